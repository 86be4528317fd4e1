#include "engine/model/describe.h"

#include <cstdio>
#include <map>
#include <string>

namespace dsv4::model {
namespace {

size_t matrix_bytes(const WeightMatrix& m) {
    return m.row_bytes * static_cast<size_t>(m.n_out);
}
size_t stack_bytes(const ExpertStack& s) {
    return s.expert_bytes * static_cast<size_t>(s.n_expert);
}
size_t vector_bytes(const Vector& v) {
    return sizeof(float) * static_cast<size_t>(v.size);
}
size_t hc_bytes(const HyperConnectionWeights& hc) {
    return matrix_bytes(hc.fn) + vector_bytes(hc.scale) + vector_bytes(hc.base);
}
size_t compressor_bytes(const CompressorWeights& c) {
    return matrix_bytes(c.ape) + matrix_bytes(c.kv) + matrix_bytes(c.gate) + vector_bytes(c.norm);
}

std::string mib(size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return text;
}

std::string type_name(quant::Type t) {
    return std::string(quant::type_info(t).name);
}

std::map<std::string, size_t> bytes_by_class(const ModelConfig& c, const ModelWeights& w) {
    std::map<std::string, size_t> bytes;
    bytes["embedding"] += matrix_bytes(w.token_embd);
    bytes["output head"] +=
        matrix_bytes(w.output) + hc_bytes(w.output_hc) + vector_bytes(w.output_norm);
    for (const LayerWeights& l : w.layers) {
        bytes["hyper-connections"] += hc_bytes(l.hc_attn) + hc_bytes(l.hc_ffn);
        bytes["attention"] += matrix_bytes(l.q_a) + matrix_bytes(l.q_b) + matrix_bytes(l.kv) +
                              matrix_bytes(l.out_a) + matrix_bytes(l.out_b) +
                              vector_bytes(l.attn_norm) + vector_bytes(l.q_a_norm) +
                              vector_bytes(l.kv_norm) + vector_bytes(l.sinks);
        if (l.has_compressor) bytes["compressors"] += compressor_bytes(l.compressor);
        if (l.has_indexer)
            bytes["indexer"] += compressor_bytes(l.indexer_compressor) +
                                matrix_bytes(l.indexer_q_b) + matrix_bytes(l.indexer_proj);
        bytes["router"] +=
            matrix_bytes(l.router) + vector_bytes(l.router_bias) + vector_bytes(l.ffn_norm);
        if (l.tid2eid != nullptr)
            bytes["router"] += sizeof(int32_t) * size_t{c.n_expert_used} * c.n_vocab;
        bytes["routed experts"] +=
            stack_bytes(l.gate_exps) + stack_bytes(l.up_exps) + stack_bytes(l.down_exps);
        if (l.has_shared_expert)
            bytes["shared expert"] += matrix_bytes(l.shared_gate) + matrix_bytes(l.shared_up) +
                                      matrix_bytes(l.shared_down);
    }
    return bytes;
}

}  // namespace

void describe_model(const ModelConfig& c, const ModelWeights& w, std::ostream& out) {
    out << "model:        " << (c.name.empty() ? c.architecture : c.name) << "\n"
        << "shape:        " << c.n_layer << " layers, width " << c.n_embd << ", vocab " << c.n_vocab
        << ", " << c.n_hc << " hyper-connection streams\n"
        << "attention:    " << c.n_head << " heads x " << c.head_dim << " (" << c.rope.n_rot
        << " rotary), q rank " << c.q_lora_rank << ", output " << c.n_out_group << " groups x "
        << c.o_lora_rank << ", window " << c.sliding_window << "\n"
        << "indexer:      " << c.indexer_n_head << " heads x " << c.indexer_head_dim << ", top "
        << c.indexer_top_k << "\n"
        << "experts:      " << c.n_expert_used << " used of " << c.n_expert << " (metadata), FF "
        << c.n_ff_expert << ", " << c.n_expert_shared << " shared, " << c.n_hash_layer
        << " hash-routed layers, weight scale " << c.expert_weights_scale << "\n\n";
    out << "layer  ratio  attention   routing  experts  gate/up   down\n";
    for (uint32_t il = 0; il < c.n_layer; ++il) {
        const LayerConfig& lc = c.layers[il];
        const LayerWeights& l = w.layers[il];
        char line[160];
        std::snprintf(line, sizeof(line), "%5u  %5u  %-10s  %-7s  %7lld  %-8s  %s\n", il,
                      lc.compress_ratio, attention_kind_name(lc.attention),
                      lc.hash_routed ? "hash" : "top-k", static_cast<long long>(l.n_expert()),
                      type_name(l.gate_exps.type).c_str(), type_name(l.down_exps.type).c_str());
        out << line;
    }
    out << "\nweight bytes by class:\n";
    size_t total = 0;
    for (const auto& [name, bytes] : bytes_by_class(c, w)) {
        char line[96];
        std::snprintf(line, sizeof(line), "  %-18s %14zu  (%s)\n", name.c_str(), bytes,
                      mib(bytes).c_str());
        out << line;
        total += bytes;
    }
    char line[96];
    std::snprintf(line, sizeof(line), "  %-18s %14zu  (%s)\n\n", "all", total, mib(total).c_str());
    out << line;
}

}  // namespace dsv4::model
