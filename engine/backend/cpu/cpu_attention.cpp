// Attention-side ops of the CPU backend: RoPE, KV storage rounding, the KV compressors, the
// lightning indexer, attention with sinks over raw and compressed rows, and the raw ring.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/backend/cpu/cpu_numerics.h"
#include "engine/backend/cpu/cpu_vector_ops.h"
#include "engine/quant/kernels.h"

namespace dsv4::backend::cpu {
namespace {

// Scores at or below this mean "no token has written this slot yet".
constexpr float kEmptyScore = -1e30f;
constexpr float kEmptyThreshold = -5e29f;
// Below this much work per token the indexer scores rows on the calling thread.
constexpr int64_t kIndexerParallelMinFlops = 1 << 16;

void require(bool ok, const std::string& message) {
    if (!ok) throw BackendError(message);
}

float dot(const float* a, const float* b, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
    return acc;
}

// Softmax-pools one output dim over the window slots. With overlapping windows (coff 2) the
// previous window's slots contribute their first-half projection and the current window's
// slots their second half, interleaved slot by slot.
float pool_dim(const CpuBuffer& kv, const CpuBuffer& score, uint32_t ratio, int64_t coff,
               int64_t head_dim, int64_t j) {
    float max = kEmptyScore;
    for (uint32_t r = 0; r < ratio; ++r) {
        if (coff == 2) {
            max = std::max(max, score.row(r)[j]);
            max = std::max(max, score.row(ratio + r)[head_dim + j]);
        } else {
            max = std::max(max, score.row(r)[j]);
        }
    }
    if (max <= kEmptyThreshold) max = 0.0f;
    float weight_sum = 0.0f;
    float acc = 0.0f;
    for (uint32_t r = 0; r < ratio; ++r) {
        if (coff == 2) {
            const float w_prev = std::exp(score.row(r)[j] - max);
            weight_sum += w_prev;
            acc += w_prev * kv.row(r)[j];
            const float w_cur = std::exp(score.row(ratio + r)[head_dim + j] - max);
            weight_sum += w_cur;
            acc += w_cur * kv.row(ratio + r)[head_dim + j];
        } else {
            const float w = std::exp(score.row(r)[j] - max);
            weight_sum += w;
            acc += w * kv.row(r)[j];
        }
    }
    return acc / weight_sum;
}

// Finishes an emitted row: norm, RoPE at the window's first position, storage rounding.
void finish_compressed_row(const CompressorStep& step, int64_t window_pos, float* row) {
    scale_row(row, rms_scale(row, step.head_dim, step.rms_eps), step.weights->norm.data,
              step.head_dim, row);
    rope_rotate(row + (step.head_dim - step.rope.n_rot), window_pos, step.rope, false);
    if (step.rounding == RowRounding::Fp8Nope) {
        fp8_round_trip(row, step.head_dim - step.rope.n_rot);
    } else {
        hadamard_transform(row, step.head_dim);
        fp4_round_trip(row, step.head_dim);
    }
    round_to_f16(row, step.head_dim);
}

// The row ids token `pos` may attend among the compressed rows, in index order.
void visible_rows(const int32_t* selection, uint32_t top_k, int64_t n_visible,
                  std::vector<int32_t>& ids) {
    ids.clear();
    if (selection == nullptr) {
        ids.resize(static_cast<size_t>(n_visible));
        std::iota(ids.begin(), ids.end(), 0);
        return;
    }
    for (uint32_t i = 0; i < top_k && selection[i] >= 0; ++i) ids.push_back(selection[i]);
}

}  // namespace

void CpuBackend::rope_tail(Buffer& x, int64_t n_tokens, uint32_t head_dim, int64_t pos0,
                           const RopeParams& rope, bool inverse) {
    require(head_dim >= rope.n_rot && x.cols() % head_dim == 0,
            "rope_tail: row width is not a whole number of heads");
    CpuBuffer& b = cpu_buffer(x);
    const int64_t n_heads = x.cols() / head_dim;
    // One position's angles serve all its heads.
    std::vector<float>& cos_theta = scratch_a_;
    std::vector<float>& sin_theta = scratch_b_;
    cos_theta.resize(rope.n_rot / 2);
    sin_theta.resize(rope.n_rot / 2);
    for (int64_t t = 0; t < n_tokens; ++t) {
        rope_angles(pos0 + t, rope, inverse, cos_theta.data(), sin_theta.data());
        for (int64_t h = 0; h < n_heads; ++h)
            rope_apply(b.row(t) + h * head_dim + (head_dim - rope.n_rot), rope.n_rot,
                       cos_theta.data(), sin_theta.data());
    }
}

void CpuBackend::round_kv_rows(Buffer& x, int64_t n_tokens, uint32_t nope_dim) {
    require(nope_dim <= x.cols(), "round_kv_rows: nope dims exceed the row");
    CpuBuffer& b = cpu_buffer(x);
    for (int64_t t = 0; t < n_tokens; ++t) {
        fp8_round_trip(b.row(t), nope_dim);
        round_to_f16(b.row(t), x.cols());
    }
}

void CpuBackend::hadamard_fp4(Buffer& x, int64_t n_tokens, uint32_t head_dim) {
    require(head_dim > 0 && (head_dim & (head_dim - 1)) == 0 && x.cols() % head_dim == 0,
            "hadamard_fp4: heads must be a power of two wide and tile the row");
    CpuBuffer& b = cpu_buffer(x);
    const int64_t n_heads = x.cols() / head_dim;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t h = 0; h < n_heads; ++h) {
            float* head = b.row(t) + h * head_dim;
            hadamard_transform(head, head_dim);
            fp4_round_trip(head, head_dim);
        }
    }
}

void CpuBackend::compressor_step(const CompressorStep& step) {
    CpuBuffer& state_kv = cpu_buffer(*step.state_kv);
    CpuBuffer& state_score = cpu_buffer(*step.state_score);
    CpuBuffer& rows = cpu_buffer(*step.rows);
    const CpuBuffer& kv_proj = cpu_buffer(*step.kv_proj);
    const CpuBuffer& score_proj = cpu_buffer(*step.score_proj);
    const int64_t head_dim = step.head_dim;
    const int64_t coff = state_kv.cols() / head_dim;
    const int64_t width = coff * head_dim;
    require(coff >= 1 && state_kv.cols() == width && state_kv.rows() == coff * step.ratio &&
                state_score.rows() == state_kv.rows() && state_score.cols() == width,
            "compressor_step: window state does not match ratio and head dim");
    require(kv_proj.cols() == width && score_proj.cols() == width && rows.cols() == head_dim,
            "compressor_step: projection or row widths do not match");
    require(step.weights->ape.n_in == width && step.weights->ape.n_out == step.ratio,
            "compressor_step: ape does not match the window");
    std::vector<float> ape(static_cast<size_t>(width));
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        const int64_t pos = step.pos0 + t;
        const auto slot_in_window = static_cast<uint32_t>(pos % step.ratio);
        const int64_t slot = (coff == 2 ? step.ratio : 0) + slot_in_window;
        quant::dequantize_row(step.weights->ape.type,
                              step.weights->ape.data + slot_in_window * step.weights->ape.row_bytes,
                              ape.data(), width);
        std::memcpy(state_kv.row(slot), kv_proj.row(t), sizeof(float) * static_cast<size_t>(width));
        for (int64_t j = 0; j < width; ++j)
            state_score.row(slot)[j] = score_proj.row(t)[j] + ape[j];
        if ((pos + 1) % step.ratio != 0) continue;

        require(*step.n_rows < rows.rows(),
                "the compressed KV cache is full (" + std::to_string(rows.rows()) +
                    " rows): the context size is too small for this sequence");
        float* row = rows.row(*step.n_rows);
        for (int64_t j = 0; j < head_dim; ++j)
            row[j] = pool_dim(state_kv, state_score, step.ratio, coff, head_dim, j);
        finish_compressed_row(step, pos + 1 - step.ratio, row);
        ++*step.n_rows;
        if (coff == 2) {
            // The current window becomes the previous one of the next emission.
            for (uint32_t r = 0; r < step.ratio; ++r) {
                std::memcpy(state_kv.row(r), state_kv.row(step.ratio + r),
                            sizeof(float) * static_cast<size_t>(width));
                std::memcpy(state_score.row(r), state_score.row(step.ratio + r),
                            sizeof(float) * static_cast<size_t>(width));
            }
        }
    }
}

void CpuBackend::indexer_select(const IndexerStep& step) {
    const CpuBuffer& q = cpu_buffer(*step.q);
    const CpuBuffer& head_weights = cpu_buffer(*step.head_weights);
    const CpuBuffer& rows = cpu_buffer(*step.rows);
    CpuBuffer& selection = cpu_buffer(*step.selection, DType::I32);
    require(q.cols() == int64_t{step.n_head} * step.head_dim && rows.cols() == step.head_dim &&
                head_weights.cols() == step.n_head && selection.cols() == step.top_k,
            "indexer_select: buffer widths do not match");
    std::vector<float> scores;
    std::vector<int32_t> order;
    std::vector<float> w(step.n_head);
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        int32_t* out = selection.i32() + t * step.top_k;
        const int64_t n_visible = (step.pos0 + t + 1) / step.ratio;
        require(n_visible <= rows.rows(), "indexer_select: fewer rows than visible positions");
        if (n_visible <= step.top_k) {
            for (uint32_t i = 0; i < step.top_k; ++i) out[i] = i < n_visible ? int32_t(i) : -1;
            continue;
        }
        for (uint32_t h = 0; h < step.n_head; ++h)
            w[h] = head_weights.row(t)[h] * step.weight_scale;
        scores.resize(static_cast<size_t>(n_visible));
        const float* qt = q.row(t);
        auto score_rows = [&](int64_t begin, int64_t end) {
            for (int64_t c = begin; c < end; ++c) {
                const float* key = rows.row(c);
                float acc = 0.0f;
                for (uint32_t h = 0; h < step.n_head; ++h)
                    acc += std::max(0.0f, dot(key, qt + h * step.head_dim, step.head_dim)) * w[h];
                scores[static_cast<size_t>(c)] = acc;
            }
        };
        if (n_visible * step.n_head * step.head_dim >= kIndexerParallelMinFlops) {
            pool_.parallel_for(n_visible, 64, score_rows);
        } else {
            score_rows(0, n_visible);
        }
        order.resize(static_cast<size_t>(n_visible));
        std::iota(order.begin(), order.end(), 0);
        // Best score first; equal scores keep the lower row id first.
        std::nth_element(order.begin(), order.begin() + step.top_k, order.end(),
                         [&](int32_t a, int32_t b) {
                             const float sa = scores[static_cast<size_t>(a)];
                             const float sb = scores[static_cast<size_t>(b)];
                             return sa > sb || (sa == sb && a < b);
                         });
        std::sort(order.begin(), order.begin() + step.top_k);
        std::copy_n(order.begin(), step.top_k, out);
    }
}

namespace {

// Heads whose scores one work item computes in a decode step: enough items for every thread.
constexpr int64_t kDecodeHeadsPerItem = 8;

// The rows token t attends, in order: its raw window (oldest first), then the visible compressed
// rows in index order, copied into one contiguous block so that one kernel call scores them for
// a whole block of heads.
int64_t gather_keys(const AttentionStep& step, const CpuBuffer& kv, const CpuBuffer& ring,
                    const CpuBuffer* comp, const CpuBuffer* selection, int64_t t,
                    std::vector<int32_t>& comp_ids, std::vector<float>& keys) {
    const int64_t head_dim = step.head_dim;
    const int64_t pos = step.pos0 + t;
    const int64_t first = std::max<int64_t>(0, pos - step.window + 1);
    int64_t n_keys = pos - first + 1;
    if (comp != nullptr) {
        const uint32_t top_k = selection != nullptr ? static_cast<uint32_t>(selection->cols()) : 0;
        visible_rows(selection ? selection->i32() + t * top_k : nullptr, top_k,
                     (pos + 1) / step.ratio, comp_ids);
        n_keys += static_cast<int64_t>(comp_ids.size());
    }
    keys.resize(static_cast<size_t>(n_keys * head_dim));
    const size_t row_bytes = sizeof(float) * static_cast<size_t>(head_dim);
    float* dst = keys.data();
    for (int64_t p = first; p <= pos; ++p, dst += head_dim)
        std::memcpy(dst, p < step.pos0 ? ring.row(p % step.window) : kv.row(p - step.pos0),
                    row_bytes);
    if (comp != nullptr)
        for (int32_t id : comp_ids) {
            std::memcpy(dst, comp->row(id), row_bytes);
            dst += head_dim;
        }
    return n_keys;
}

}  // namespace

void CpuBackend::attention(const AttentionStep& step) {
    const CpuBuffer& q = cpu_buffer(*step.q);
    const CpuBuffer& kv = cpu_buffer(*step.kv);
    const CpuBuffer& ring = cpu_buffer(*step.ring);
    CpuBuffer& out = cpu_buffer(*step.out);
    const int64_t head_dim = step.head_dim;
    require(q.cols() == int64_t{step.n_head} * head_dim && out.cols() == q.cols() &&
                kv.cols() == head_dim && ring.cols() == head_dim && ring.rows() == step.window,
            "attention: buffer shapes do not match");
    const CpuBuffer* comp = step.comp_rows != nullptr ? &cpu_buffer(*step.comp_rows) : nullptr;
    const CpuBuffer* selection =
        step.selection != nullptr ? &cpu_buffer(*step.selection, DType::I32) : nullptr;
    const float score_scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const quant::DotKernel score_kernel = quant::kernels(quant::Type::F32).dot_f32;
    // A batch has work enough in its tokens; a decode step splits its heads.
    const int64_t heads_per_item = step.n_tokens >= 2 * static_cast<int64_t>(pool_.size())
                                       ? step.n_head
                                       : std::min<int64_t>(step.n_head, kDecodeHeadsPerItem);
    const int64_t items_per_token = (step.n_head + heads_per_item - 1) / heads_per_item;

    auto run = [&](int64_t begin, int64_t end) {
        std::vector<float> keys;
        std::vector<float> scores;
        std::vector<float> inverses;
        std::vector<int32_t> comp_ids;
        int64_t gathered_token = -1;
        int64_t n_keys = 0;
        for (int64_t item = begin; item < end; ++item) {
            const int64_t t = item / items_per_token;
            const int64_t h0 = item % items_per_token * heads_per_item;
            const int64_t n_heads = std::min<int64_t>(heads_per_item, step.n_head - h0);
            if (t != gathered_token) {
                n_keys = gather_keys(step, kv, ring, comp, selection, t, comp_ids, keys);
                gathered_token = t;
            }
            scores.resize(static_cast<size_t>(n_heads * n_keys));
            const size_t row_bytes = sizeof(float) * static_cast<size_t>(head_dim);
            score_kernel({reinterpret_cast<const uint8_t*>(keys.data()), row_bytes, n_keys,
                          reinterpret_cast<const uint8_t*>(q.row(t) + h0 * head_dim), row_bytes,
                          n_heads, head_dim, scores.data(), n_keys});
            // Scores become softmax numerators in place; the value sums of the whole block of
            // heads then run in one pass over the keys.
            inverses.resize(static_cast<size_t>(n_heads));
            for (int64_t hh = 0; hh < n_heads; ++hh) {
                float* sh = scores.data() + hh * n_keys;
                const float sink = step.sinks[h0 + hh];
                float max = sink;
                for (int64_t r = 0; r < n_keys; ++r) {
                    sh[r] *= score_scale;
                    max = std::max(max, sh[r]);
                }
                float denominator = std::exp(sink - max);
                for (int64_t r = 0; r < n_keys; ++r) {
                    sh[r] = std::exp(sh[r] - max);
                    denominator += sh[r];
                }
                inverses[static_cast<size_t>(hh)] = 1.0f / denominator;
            }
            weighted_row_sums({keys.data(), n_keys, head_dim, scores.data(), n_heads,
                               inverses.data(), out.row(t) + h0 * head_dim, head_dim});
        }
    };
    pool_.parallel_for(step.n_tokens * items_per_token, 1, run);
}

void CpuBackend::ring_store(const Buffer& kv, int64_t n_tokens, int64_t pos0, uint32_t window,
                            Buffer& ring) {
    require(ring.rows() == window && ring.cols() == kv.cols(), "ring_store: ring shape mismatch");
    const CpuBuffer& src = cpu_buffer(kv);
    CpuBuffer& dst = cpu_buffer(ring);
    for (int64_t p = std::max(pos0, pos0 + n_tokens - window); p < pos0 + n_tokens; ++p)
        std::memcpy(dst.row(p % window), src.row(p - pos0),
                    sizeof(float) * static_cast<size_t>(kv.cols()));
}

}  // namespace dsv4::backend::cpu
