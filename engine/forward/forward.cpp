#include "engine/forward/forward.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>

namespace dsv4::forward {

using backend::Buffer;
using backend::DType;

backend::RopeParams layer_rope(const model::ModelConfig& config, uint32_t layer) {
    backend::RopeParams rope;
    rope.n_rot = config.rope.n_rot;
    if (config.layers[layer].compress_ratio == 0) {
        rope.freq_base = config.rope.freq_base;
        return rope;
    }
    const model::RopeConfig& c = config.rope;
    rope.freq_base = c.compress_freq_base;
    rope.freq_scale = 1.0f / c.scaling_factor;
    rope.yarn = c.scaling_factor != 1.0f;
    const auto n_rot = static_cast<float>(c.n_rot);
    const auto original = static_cast<float>(c.original_context);
    // The pair index whose wavelength fits `beta` turns into the original context.
    auto correction_pair = [&](float beta) {
        return n_rot * std::log(original / (beta * 2.0f * std::numbers::pi_v<float>)) /
               (2.0f * std::log(rope.freq_base));
    };
    rope.corr_low = std::max(0.0f, std::floor(correction_pair(c.yarn_beta_fast)));
    rope.corr_high = std::min(n_rot - 1.0f, std::ceil(correction_pair(c.yarn_beta_slow)));
    // The reference passes an attention factor that cancels YaRN's magnitude gain; the product
    // is what its float arithmetic gives (about 1).
    const float attn_factor = 1.0f / (1.0f + 0.1f * std::log(c.scaling_factor));
    rope.mscale = attn_factor * (1.0f + 0.1f * std::log(1.0f / rope.freq_scale));
    return rope;
}

Forward::Forward(const LoadedModel& model, backend::Backend& backend, ForwardOptions options)
    : model_(model), backend_(backend), options_(options) {
    const model::ModelConfig& c = model.config;
    if (options_.max_batch_tokens <= 0)
        throw ForwardError("max_batch_tokens must be positive, got " +
                           std::to_string(options_.max_batch_tokens));
    hyper_.n_hc = c.n_hc;
    hyper_.sinkhorn_iterations = c.sinkhorn_iterations;
    hyper_.hc_eps = c.hc_eps;
    hyper_.rms_eps = c.rms_eps;
    for (uint32_t il = 0; il < c.n_layer; ++il) rope_.push_back(layer_rope(c, il));
    hc_ = backend_.allocate(DType::F32, options_.max_batch_tokens, c.hc_dim());
}

Buffer& Forward::scratch(Slot slot, int64_t cols, DType dtype) {
    auto& entry = scratch_[{slot, cols}];
    if (!entry) entry = backend_.allocate(dtype, options_.max_batch_tokens, cols);
    return *entry;
}

void Forward::check_tokens(const state::SequenceState& state,
                           std::span<const int32_t> tokens) const {
    const model::ModelConfig& c = model_.config;
    for (int32_t token : tokens)
        if (token < 0 || static_cast<uint32_t>(token) >= c.n_vocab)
            throw ForwardError("token id " + std::to_string(token) +
                               " is outside the vocabulary of " + std::to_string(c.n_vocab));
    const int64_t end = state.position() + static_cast<int64_t>(tokens.size());
    if (end > state.context_tokens())
        throw ForwardError(std::to_string(tokens.size()) + " tokens at position " +
                           std::to_string(state.position()) + " do not fit the context of " +
                           std::to_string(state.context_tokens()) + " tokens");
}

std::vector<float> Forward::prefill(state::SequenceState& state, std::span<const int32_t> tokens,
                                    LogitRows rows) {
    check_tokens(state, tokens);
    std::vector<float> logits;
    const auto n_total = static_cast<int64_t>(tokens.size());
    for (int64_t start = 0; start < n_total; start += options_.max_batch_tokens) {
        const int64_t n = std::min(options_.max_batch_tokens, n_total - start);
        run_batch(state, tokens.subspan(static_cast<size_t>(start), static_cast<size_t>(n)));
        std::vector<float> part;
        if (rows == LogitRows::All) {
            part = output_logits(0, n);
        } else if (rows == LogitRows::Last && start + n == n_total) {
            part = output_logits(n - 1, 1);
        }
        logits.insert(logits.end(), part.begin(), part.end());
    }
    return logits;
}

std::vector<float> Forward::decode(state::SequenceState& state, int32_t token) {
    return prefill(state, std::span(&token, 1), LogitRows::Last);
}

void Forward::run_batch(state::SequenceState& state, std::span<const int32_t> tokens) {
    backend_.embed(model_.weights.token_embd, tokens, *hc_);
    for (uint32_t il = 0; il < model_.config.n_layer; ++il) {
        attention_sublayer(il, state, tokens);
        ffn_sublayer(il, tokens);
    }
    state.commit_tokens(tokens);
}

std::vector<float> Forward::output_logits(int64_t first_row, int64_t n_rows) {
    const model::ModelConfig& c = model_.config;
    const model::ModelWeights& w = model_.weights;
    Buffer& rows = scratch(Slot::HeadRows, c.hc_dim());
    backend_.copy_rows(*hc_, first_row, rows, 0, n_rows);
    Buffer& collapsed = scratch(Slot::X, c.n_embd);
    backend_.hc_collapse(rows, n_rows, w.output_hc, hyper_, collapsed);
    backend_.rms_norm(collapsed, n_rows, w.output_norm.data, c.rms_eps, collapsed);
    Buffer& logits = scratch(Slot::Logits, c.n_vocab);
    backend_.matmul(w.output, collapsed, n_rows, logits, options_.numerics);
    std::vector<float> out(static_cast<size_t>(n_rows) * c.n_vocab);
    backend_.read_rows(logits, 0, n_rows, out.data());
    return out;
}

void Forward::attention_sublayer(uint32_t il, state::SequenceState& state,
                                 std::span<const int32_t> tokens) {
    const model::ModelConfig& c = model_.config;
    const model::LayerWeights& w = model_.weights.layers[il];
    const backend::RopeParams& rope = rope_[il];
    const quant::Numerics numerics = options_.numerics;
    state::LayerState& layer = state.layer(il);
    const auto n = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = state.position();
    if (n > options_.max_batch_tokens) throw ForwardError("batch larger than max_batch_tokens");

    Buffer& x = scratch(Slot::X, c.n_embd);
    Buffer& split = scratch(Slot::Split, backend::hc_split_width(c.n_hc));
    Buffer& xn = scratch(Slot::Xn, c.n_embd);
    backend_.hc_pre(*hc_, n, w.hc_attn, hyper_, x, split);
    backend_.rms_norm(x, n, w.attn_norm.data, c.rms_eps, xn);

    // Every projection of xn in one pass over the pool: the query and KV latents and the
    // compressors' KV and score projections.
    Buffer& q_latent = scratch(Slot::QLatent, c.q_lora_rank);
    Buffer& kv = scratch(Slot::Kv, c.head_dim);
    std::array<backend::MatmulTarget, 6> from_xn = {{{&w.q_a, &q_latent}, {&w.kv, &kv}}};
    size_t n_from_xn = 2;
    const bool compressing = layer.attention.active();
    const bool indexing = layer.indexer.active();
    if (compressing) {
        from_xn[n_from_xn++] = {&w.compressor.kv, &scratch(Slot::CompKv, w.compressor.kv.n_out)};
        from_xn[n_from_xn++] = {&w.compressor.gate,
                                &scratch(Slot::CompScore, w.compressor.gate.n_out)};
    }
    if (indexing) {
        from_xn[n_from_xn++] = {&w.indexer_compressor.kv,
                                &scratch(Slot::IndexCompKv, w.indexer_compressor.kv.n_out)};
        from_xn[n_from_xn++] = {&w.indexer_compressor.gate,
                                &scratch(Slot::IndexCompScore, w.indexer_compressor.gate.n_out)};
    }
    backend_.matmul_many(std::span(from_xn).first(n_from_xn), xn, n, numerics);
    backend_.rms_norm(q_latent, n, w.q_a_norm.data, c.rms_eps, q_latent);
    Buffer& q = scratch(Slot::Q, c.q_dim());
    backend_.matmul(w.q_b, q_latent, n, q, numerics);
    backend_.rms_norm_heads(q, n, c.head_dim, c.rms_eps);

    backend_.rms_norm(kv, n, w.kv_norm.data, c.rms_eps, kv);
    backend_.rope_tail(q, n, c.head_dim, pos0, rope, false);
    backend_.rope_tail(kv, n, c.head_dim, pos0, rope, false);
    backend_.round_kv_rows(kv, n, c.nope_dim());

    if (compressing)
        compress(w.compressor, layer.attention, *from_xn[2].out, *from_xn[3].out, pos0, n, il,
                 backend::RowRounding::Fp8Nope);
    if (indexing)
        compress(w.indexer_compressor, layer.indexer, *from_xn[n_from_xn - 2].out,
                 *from_xn[n_from_xn - 1].out, pos0, n, il, backend::RowRounding::HadamardFp4);
    Buffer* selection = indexing ? select_rows(il, layer, xn, q_latent, pos0, n) : nullptr;

    Buffer& heads = scratch(Slot::Heads, c.q_dim());
    backend::AttentionStep step;
    step.q = &q;
    step.kv = &kv;
    step.ring = layer.raw_ring.get();
    step.window = c.sliding_window;
    step.comp_rows = layer.attention.active() ? layer.attention.rows.get() : nullptr;
    step.ratio = layer.attention.ratio;
    step.selection = selection;
    step.sinks = w.sinks.data;
    step.n_head = c.n_head;
    step.head_dim = c.head_dim;
    step.pos0 = pos0;
    step.n_tokens = n;
    step.out = &heads;
    backend_.attention(step);
    backend_.ring_store(kv, n, pos0, c.sliding_window, *layer.raw_ring);

    // Values are the keys, so their RoPE tail is still rotated: undo it per output head.
    backend_.rope_tail(heads, n, c.head_dim, pos0, rope, true);
    Buffer& low = scratch(Slot::Low, w.out_a.n_out);
    backend_.grouped_matmul(w.out_a, c.n_out_group, heads, n, low, numerics);
    Buffer& out = scratch(Slot::SubOut, c.n_embd);
    backend_.matmul(w.out_b, low, n, out, numerics);
    backend_.hc_post(out, *hc_, split, n, c.n_hc, *hc_);
}

void Forward::compress(const model::CompressorWeights& weights, state::CompressorState& compressor,
                       Buffer& kv, Buffer& score, int64_t pos0, int64_t n, uint32_t il,
                       backend::RowRounding rounding) {
    backend::CompressorStep step;
    step.kv_proj = &kv;
    step.score_proj = &score;
    step.weights = &weights;
    step.ratio = compressor.ratio;
    step.head_dim = compressor.head_dim;
    step.rms_eps = model_.config.rms_eps;
    step.rope = rope_[il];
    step.rounding = rounding;
    step.pos0 = pos0;
    step.n_tokens = n;
    step.state_kv = compressor.window_kv.get();
    step.state_score = compressor.window_score.get();
    step.rows = compressor.rows.get();
    step.n_rows = &compressor.n_rows;
    backend_.compressor_step(step);
}

Buffer* Forward::select_rows(uint32_t il, state::LayerState& layer, const Buffer& xn,
                             const Buffer& q_latent, int64_t pos0, int64_t n) {
    const model::ModelConfig& c = model_.config;
    const model::LayerWeights& w = model_.weights.layers[il];
    // Until a token sees more than top_k rows it sees them all: nothing to score.
    if ((pos0 + n) / layer.indexer.ratio <= c.indexer_top_k) return nullptr;
    Buffer& q = scratch(Slot::IndexQ, w.indexer_q_b.n_out);
    backend_.matmul(w.indexer_q_b, q_latent, n, q, options_.numerics);
    backend_.rope_tail(q, n, c.indexer_head_dim, pos0, rope_[il], false);
    backend_.hadamard_fp4(q, n, c.indexer_head_dim);
    Buffer& head_weights = scratch(Slot::IndexWeights, w.indexer_proj.n_out);
    backend_.matmul(w.indexer_proj, xn, n, head_weights, options_.numerics);
    Buffer& selection = scratch(Slot::Selection, c.indexer_top_k, DType::I32);
    backend::IndexerStep step;
    step.q = &q;
    step.head_weights = &head_weights;
    step.weight_scale = 1.0f / std::sqrt(static_cast<float>(c.indexer_head_dim * c.indexer_n_head));
    step.rows = layer.indexer.rows.get();
    step.ratio = layer.indexer.ratio;
    step.top_k = c.indexer_top_k;
    step.n_head = c.indexer_n_head;
    step.head_dim = c.indexer_head_dim;
    step.pos0 = pos0;
    step.n_tokens = n;
    step.selection = &selection;
    backend_.indexer_select(step);
    return &selection;
}

void Forward::ffn_sublayer(uint32_t il, std::span<const int32_t> tokens) {
    const model::ModelConfig& c = model_.config;
    const model::LayerWeights& w = model_.weights.layers[il];
    const float clamp = c.layers[il].swiglu_clamp;
    const auto n = static_cast<int64_t>(tokens.size());
    if (n > options_.max_batch_tokens) throw ForwardError("batch larger than max_batch_tokens");

    Buffer& x = scratch(Slot::X, c.n_embd);
    Buffer& split = scratch(Slot::Split, backend::hc_split_width(c.n_hc));
    Buffer& xn = scratch(Slot::Xn, c.n_embd);
    backend_.hc_pre(*hc_, n, w.hc_ffn, hyper_, x, split);
    backend_.rms_norm(x, n, w.ffn_norm.data, c.rms_eps, xn);

    // The router and the shared expert's gate and up read xn: one pass over the pool.
    Buffer& router_logits = scratch(Slot::RouterLogits, w.router.n_out);
    if (w.has_shared_expert) {
        const backend::MatmulTarget from_xn[] = {
            {&w.router, &router_logits},
            {&w.shared_gate, &scratch(Slot::SharedGate, w.shared_gate.n_out)},
            {&w.shared_up, &scratch(Slot::SharedUp, w.shared_up.n_out)}};
        backend_.matmul_many(from_xn, xn, n, options_.numerics);
    } else {
        backend_.matmul(w.router, xn, n, router_logits, options_.numerics);
    }
    Buffer& ids = scratch(Slot::ExpertIds, c.n_expert_used, DType::I32);
    Buffer& expert_weights = scratch(Slot::ExpertWeights, c.n_expert_used);
    backend::RouterStep route;
    route.logits = &router_logits;
    route.bias = w.router_bias.size > 0 ? w.router_bias.data : nullptr;
    route.tid2eid = w.tid2eid;
    route.tokens = tokens;
    route.n_used = c.n_expert_used;
    route.normalize = c.expert_weights_norm;
    route.scale = c.expert_weights_scale;
    route.n_tokens = n;
    route.ids = &ids;
    route.weights = &expert_weights;
    backend_.route(route);

    Buffer& moe_out = scratch(Slot::MoeOut, c.n_embd);
    backend::MoeStep moe;
    moe.x = &xn;
    moe.ids = &ids;
    moe.weights = &expert_weights;
    moe.gate = &w.gate_exps;
    moe.up = &w.up_exps;
    moe.down = &w.down_exps;
    moe.clamp = clamp;
    moe.numerics = options_.numerics;
    moe.n_tokens = n;
    moe.out = &moe_out;
    backend_.routed_moe(moe);

    Buffer* ffn_out = &moe_out;
    if (w.has_shared_expert) {
        Buffer& shared = scratch(Slot::SubOut, c.n_embd);
        shared_expert(w, clamp, n, shared);
        backend_.add(moe_out, shared, n, shared);
        ffn_out = &shared;
    }
    backend_.hc_post(*ffn_out, *hc_, split, n, c.n_hc, *hc_);
}

void Forward::shared_expert(const model::LayerWeights& w, float clamp, int64_t n, Buffer& out) {
    Buffer& gate = scratch(Slot::SharedGate, w.shared_gate.n_out);
    Buffer& up = scratch(Slot::SharedUp, w.shared_up.n_out);
    backend_.swiglu(gate, up, n, clamp, gate);
    backend_.matmul(w.shared_down, gate, n, out, options_.numerics);
}

}  // namespace dsv4::forward
