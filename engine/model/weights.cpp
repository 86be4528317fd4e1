#include "engine/model/weights.h"

#include <initializer_list>
#include <string>

#include "engine/gguf/gguf_reader.h"

namespace dsv4::model {
namespace {

using quant::Type;

// Which element types a tensor role accepts.
enum class Role {
    Matmul,      // any type with dot kernels (F16/F32/BF16 with f32 activations, quantized ones)
    Embedding,   // any type this engine can dequantize row by row
    F32Vector,   // norms, biases, scales, sinks
    TokenTable,  // the I32 token -> expert table
};

std::string dims_text(std::initializer_list<uint64_t> dims) {
    std::string s = "[";
    bool first = true;
    for (uint64_t d : dims) {
        s += (first ? "" : ", ") + std::to_string(d);
        first = false;
    }
    return s + "]";
}

std::string dims_text(const gguf::TensorInfo& t) {
    std::string s = "[";
    for (uint32_t i = 0; i < t.n_dims; ++i) s += (i ? ", " : "") + std::to_string(t.dims[i]);
    return s + "]";
}

bool role_accepts(Role role, const quant::TypeInfo& info) {
    switch (role) {
        case Role::Matmul:
            return info.act != quant::ActFormat::None;
        case Role::Embedding:
            return info.dequantize && info.type != Type::Q8_K;
        case Role::F32Vector:
            return info.type == Type::F32;
        case Role::TokenTable:
            return info.type == Type::I32;
    }
    return false;
}

const char* role_expectation(Role role) {
    switch (role) {
        case Role::Matmul:
            return "a matmul weight type (F32, F16, BF16, Q8_0, Q4_0, MXFP4, "
                   "Q2_K, Q4_K, Q5_K, Q6_K or IQ2_XXS)";
        case Role::Embedding:
            return "a dequantizable type";
        case Role::F32Vector:
            return "F32";
        case Role::TokenTable:
            return "I32";
    }
    return "?";
}

class Binder {
  public:
    Binder(const gguf::GgufFile& file, const ModelConfig& config) : file_(file), config_(config) {}

    const gguf::TensorInfo* find(const std::string& name) const { return file_.find_tensor(name); }

    const gguf::TensorInfo& get(const std::string& name, Role role,
                                std::initializer_list<uint64_t> dims) const {
        const gguf::TensorInfo* t = find(name);
        if (t == nullptr)
            fail("tensor " + name + " is missing (expected " + role_expectation(role) + " " +
                 dims_text(dims) + ")");
        if (!role_accepts(role, *t->type_info))
            fail("tensor " + name + " has type " + std::string(t->type_info->name) + ", expected " +
                 role_expectation(role));
        bool same = t->n_dims == dims.size();
        size_t i = 0;
        for (uint64_t d : dims) same = same && t->dims[i++] == d;
        if (!same)
            fail("tensor " + name + " has shape " + dims_text(*t) + ", expected " +
                 dims_text(dims));
        return *t;
    }

    WeightMatrix matrix(const std::string& name, uint64_t n_in, uint64_t n_out,
                        Role role = Role::Matmul) const {
        const gguf::TensorInfo& t = get(name, role, {n_in, n_out});
        return {t.type(), t.data, static_cast<int64_t>(n_in), static_cast<int64_t>(n_out),
                static_cast<size_t>(t.row_bytes())};
    }

    Vector vector(const std::string& name, uint64_t size) const {
        const gguf::TensorInfo& t = get(name, Role::F32Vector, {size});
        return {reinterpret_cast<const float*>(t.data), static_cast<int64_t>(size)};
    }

    // A 3-D expert stack whose expert count is read from the tensor itself.
    ExpertStack experts(const std::string& name, uint64_t n_in, uint64_t n_out) const {
        const gguf::TensorInfo* t = find(name);
        if (t == nullptr)
            fail("tensor " + name + " is missing (expected experts " +
                 dims_text({n_in, n_out, config_.n_expert}) + ")");
        if (t->n_dims != 3 || t->dims[2] == 0)
            fail("tensor " + name + " has shape " + dims_text(*t) + ", expected 3 dims " +
                 dims_text({n_in, n_out, config_.n_expert}));
        get(name, Role::Matmul, {n_in, n_out, t->dims[2]});
        ExpertStack s;
        s.type = t->type();
        s.data = t->data;
        s.n_in = static_cast<int64_t>(n_in);
        s.n_out = static_cast<int64_t>(n_out);
        s.n_expert = static_cast<int64_t>(t->dims[2]);
        s.row_bytes = static_cast<size_t>(t->row_bytes());
        s.expert_bytes = s.row_bytes * static_cast<size_t>(n_out);
        return s;
    }

    HyperConnectionWeights hyper_connection(const std::string& prefix, uint64_t n_mix,
                                            uint64_t n_scale) const {
        return {matrix(prefix + "_fn.weight", config_.hc_dim(), n_mix),
                vector(prefix + "_scale.weight", n_scale), vector(prefix + "_base.weight", n_mix)};
    }

    CompressorWeights compressor(const std::string& prefix, uint64_t head_dim,
                                 uint32_t ratio) const {
        const uint64_t width = (ratio == 4 ? 2 : 1) * head_dim;  // ratio-4 windows overlap
        return {matrix(prefix + "_ape.weight", width, ratio),
                matrix(prefix + "_kv.weight", config_.n_embd, width),
                matrix(prefix + "_gate.weight", config_.n_embd, width),
                vector(prefix + "_norm.weight", head_dim)};
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw ModelError(file_.name() + ": " + message);
    }

    const ModelConfig& config() const { return config_; }

  private:
    const gguf::GgufFile& file_;
    const ModelConfig& config_;
};

void bind_attention(const Binder& b, const std::string& p, uint32_t il, LayerWeights& l) {
    const ModelConfig& c = b.config();
    l.hc_attn = b.hyper_connection(p + "hc_attn", c.hc_mix(), 3);
    l.attn_norm = b.vector(p + "attn_norm.weight", c.n_embd);
    l.q_a = b.matrix(p + "attn_q_a.weight", c.n_embd, c.q_lora_rank);
    l.q_a_norm = b.vector(p + "attn_q_a_norm.weight", c.q_lora_rank);
    l.q_b = b.matrix(p + "attn_q_b.weight", c.q_lora_rank, c.q_dim());
    l.kv = b.matrix(p + "attn_kv.weight", c.n_embd, c.head_dim);
    l.kv_norm = b.vector(p + "attn_kv_a_norm.weight", c.head_dim);
    l.sinks = b.vector(p + "attn_sinks.weight", c.n_head);
    l.out_a = b.matrix(p + "attn_output_a.weight", uint64_t{c.heads_per_group()} * c.head_dim,
                       uint64_t{c.n_out_group} * c.o_lora_rank);
    l.out_b =
        b.matrix(p + "attn_output_b.weight", uint64_t{c.n_out_group} * c.o_lora_rank, c.n_embd);
    const LayerConfig& lc = c.layers[il];
    l.has_compressor = lc.compress_ratio != 0;
    if (l.has_compressor)
        l.compressor = b.compressor(p + "attn_compressor", c.head_dim, lc.compress_ratio);
    l.has_indexer = lc.attention == AttentionKind::Sparse;
    if (l.has_indexer) {
        l.indexer_compressor =
            b.compressor(p + "indexer_compressor", c.indexer_head_dim, lc.compress_ratio);
        l.indexer_q_b = b.matrix(p + "indexer.attn_q_b.weight", c.q_lora_rank,
                                 uint64_t{c.indexer_n_head} * c.indexer_head_dim);
        l.indexer_proj = b.matrix(p + "indexer.proj.weight", c.n_embd, c.indexer_n_head);
    }
}

void bind_ffn(const Binder& b, const std::string& p, uint32_t il, LayerWeights& l) {
    const ModelConfig& c = b.config();
    l.hc_ffn = b.hyper_connection(p + "hc_ffn", c.hc_mix(), 3);
    l.ffn_norm = b.vector(p + "ffn_norm.weight", c.n_embd);
    l.gate_exps = b.experts(p + "ffn_gate_exps.weight", c.n_embd, c.n_ff_expert);
    l.up_exps = b.experts(p + "ffn_up_exps.weight", c.n_embd, c.n_ff_expert);
    l.down_exps = b.experts(p + "ffn_down_exps.weight", c.n_ff_expert, c.n_embd);
    const int64_t n_expert = l.gate_exps.n_expert;
    if (l.up_exps.type != l.gate_exps.type)
        b.fail("tensor " + p + "ffn_up_exps.weight has type " +
               std::string(quant::type_info(l.up_exps.type).name) + ", expected the type of " + p +
               "ffn_gate_exps.weight (" + std::string(quant::type_info(l.gate_exps.type).name) +
               ")");
    if (l.up_exps.n_expert != n_expert || l.down_exps.n_expert != n_expert)
        b.fail("layer " + std::to_string(il) + ": gate, up and down expert stacks hold " +
               std::to_string(n_expert) + ", " + std::to_string(l.up_exps.n_expert) + " and " +
               std::to_string(l.down_exps.n_expert) + " experts; they must match");
    if (n_expert < c.n_expert_used)
        b.fail("layer " + std::to_string(il) + " has " + std::to_string(n_expert) +
               " experts, fewer than expert_used_count " + std::to_string(c.n_expert_used));
    const uint64_t n_expert_u = static_cast<uint64_t>(n_expert);
    l.router = b.matrix(p + "ffn_gate_inp.weight", c.n_embd, n_expert_u);
    if (b.find(p + "exp_probs_b.bias") != nullptr)
        l.router_bias = b.vector(p + "exp_probs_b.bias", n_expert_u);
    if (c.layers[il].hash_routed) {
        const auto& t =
            b.get(p + "ffn_gate_tid2eid.weight", Role::TokenTable, {c.n_expert_used, c.n_vocab});
        l.tid2eid = reinterpret_cast<const int32_t*>(t.data);
        for (uint64_t i = 0; i < t.n_elements; ++i)
            if (l.tid2eid[i] < 0 || l.tid2eid[i] >= n_expert)
                b.fail("tensor " + p + "ffn_gate_tid2eid.weight entry " + std::to_string(i) +
                       " = " + std::to_string(l.tid2eid[i]) + " is not an expert id below " +
                       std::to_string(n_expert));
    }
    l.has_shared_expert = c.n_expert_shared > 0;
    if (l.has_shared_expert) {
        l.shared_gate = b.matrix(p + "ffn_gate_shexp.weight", c.n_embd, c.n_ff_expert);
        l.shared_up = b.matrix(p + "ffn_up_shexp.weight", c.n_embd, c.n_ff_expert);
        l.shared_down = b.matrix(p + "ffn_down_shexp.weight", c.n_ff_expert, c.n_embd);
    }
}

}  // namespace

ModelWeights bind_model_weights(const gguf::GgufFile& file, const ModelConfig& config) {
    const Binder b(file, config);
    ModelWeights w;
    w.token_embd = b.matrix("token_embd.weight", config.n_embd, config.n_vocab, Role::Embedding);
    w.output_hc = b.hyper_connection("output_hc", config.n_hc, 1);
    w.output_norm = b.vector("output_norm.weight", config.n_embd);
    w.output = b.matrix("output.weight", config.n_embd, config.n_vocab);
    w.layers.resize(config.n_layer);
    for (uint32_t il = 0; il < config.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        bind_attention(b, p, il, w.layers[il]);
        bind_ffn(b, p, il, w.layers[il]);
    }
    return w;
}

}  // namespace dsv4::model
