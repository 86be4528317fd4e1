#include "engine/backend/cpu/cpu_row_jobs.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsv4::backend::cpu {
namespace {

// Rows per work item: whole groups of the kernels' row tiles, as in quant::matmul_prepared.
constexpr int64_t kRowGrain = 16;
// Below this many weight bytes in all jobs together, waking the other threads costs more than it
// saves (the threshold of quant::matmul_prepared).
constexpr size_t kParallelMinBytes = 64 * 1024;

quant::DotKernel kernel_for(const RowJob& job) {
    const quant::TypeKernels& k = quant::kernels(job.w.type);
    const quant::DotKernel kernel = job.numerics == quant::Numerics::F32 ? k.dot_f32 : k.dot_q;
    if (kernel == nullptr)
        throw std::invalid_argument(
            "no " + std::string(job.numerics == quant::Numerics::F32 ? "f32" : "quantized") +
            " kernel for weight type " + std::string(quant::type_info(job.w.type).name));
    return kernel;
}

}  // namespace

void run_row_jobs(std::span<const RowJob> jobs, ThreadPool& pool) {
    // first_item[j]: index of job j's first work item; the last entry is the total.
    std::vector<int64_t> first_item(jobs.size() + 1, 0);
    std::vector<quant::DotKernel> kernel(jobs.size());
    size_t weight_bytes = 0;
    for (size_t j = 0; j < jobs.size(); ++j) {
        weight_bytes += jobs[j].w.row_bytes * static_cast<size_t>(jobs[j].w.n_out);
        kernel[j] = kernel_for(jobs[j]);
        first_item[j + 1] = first_item[j] + (jobs[j].w.n_out + kRowGrain - 1) / kRowGrain;
    }
    auto run = [&](int64_t begin, int64_t end) {
        auto j = static_cast<size_t>(std::upper_bound(first_item.begin(), first_item.end(), begin) -
                                     first_item.begin() - 1);
        for (; j < jobs.size() && first_item[j] < end; ++j) {
            const RowJob& job = jobs[j];
            const int64_t row0 = (std::max(begin, first_item[j]) - first_item[j]) * kRowGrain;
            const int64_t row1 = std::min(
                job.w.n_out, (std::min(end, first_item[j + 1]) - first_item[j]) * kRowGrain);
            if (row0 >= row1 || job.n_acts == 0) continue;
            const quant::DotArgs args{job.w.data + static_cast<size_t>(row0) * job.w.row_bytes,
                                      job.w.row_bytes,
                                      row1 - row0,
                                      job.act,
                                      job.act_row_bytes,
                                      job.n_acts,
                                      job.w.n_in,
                                      job.out + row0,
                                      job.out_stride};
            kernel[j](args);
        }
    };
    if (weight_bytes < kParallelMinBytes) {
        run(0, first_item.back());
        return;
    }
    pool.parallel_for_dynamic(first_item.back(), 1, run);
}

}  // namespace dsv4::backend::cpu
