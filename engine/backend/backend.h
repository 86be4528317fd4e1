// The operations the DSV4 forward pass is written against, and the buffers they work on.
// Owns the op contract only (shapes, numerics, what each op reads and writes); it must not hold
// sequence state or know the layer schedule: engine/forward and engine/state decide those.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "engine/model/weights.h"
#include "engine/quant/matmul.h"

namespace dsv4::backend {

using quant::Numerics;
using quant::WeightMatrix;

class BackendError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class DType { F32, I32 };

// A backend-owned 2-D array [rows][cols], row-major. Ops that take a token count use the first
// n_tokens rows, so one buffer serves every batch up to its row capacity.
class Buffer {
  public:
    virtual ~Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    DType dtype() const { return dtype_; }
    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }

  protected:
    Buffer(DType dtype, int64_t rows, int64_t cols) : dtype_(dtype), rows_(rows), cols_(cols) {}

  private:
    DType dtype_;
    int64_t rows_;
    int64_t cols_;
};
using BufferPtr = std::unique_ptr<Buffer>;

// RoPE on the last n_rot dims of each head, adjacent pairs (2k, 2k+1). Angle of pair k at
// position p: te = p * theta_scale^k (iterated product), theta = te * freq_scale blended back
// towards te by the YaRN ramp between corr_low and corr_high when yarn is set.
struct RopeParams {
    uint32_t n_rot = 0;
    float freq_base = 10000;
    float freq_scale = 1;
    bool yarn = false;
    float corr_low = 0;
    float corr_high = 0;
    float mscale = 1;  // multiplies cos and sin
};

// Constants of the hyper-connection ops.
struct HyperParams {
    uint32_t n_hc = 0;
    uint32_t sinkhorn_iterations = 0;
    float hc_eps = 0;
    float rms_eps = 0;
};

// Width of the per-token hyper-connection split: pre (n_hc), post (n_hc), comb (n_hc x n_hc).
inline int64_t hc_split_width(uint32_t n_hc) {
    return 2 * n_hc + n_hc * n_hc;
}

// What an emitted compressed row goes through before it is stored (then always f16-rounded).
enum class RowRounding {
    Fp8Nope,      // FP8 E4M3 round trip on the dims before the RoPE tail (attention rows)
    HadamardFp4,  // Hadamard transform + FP4 E2M1 round trip on the whole row (indexer rows)
};

// One batch of consecutive tokens through a KV compressor: each token's projections go into the
// window state; every `ratio`-th position pools the window into one row appended to `rows`.
struct CompressorStep {
    const Buffer* kv_proj = nullptr;     // [n_tokens][coff * head_dim]
    const Buffer* score_proj = nullptr;  // [n_tokens][coff * head_dim], before the ape bias
    const model::CompressorWeights* weights = nullptr;
    uint32_t ratio = 0;  // ratio 4 windows overlap (coff 2); other ratios do not (coff 1)
    uint32_t head_dim = 0;
    float rms_eps = 0;
    RopeParams rope;  // applied at the position of the window's first token
    RowRounding rounding = RowRounding::Fp8Nope;
    int64_t pos0 = 0;  // position of the batch's first token
    int64_t n_tokens = 0;
    Buffer* state_kv = nullptr;     // [coff * ratio][coff * head_dim]
    Buffer* state_score = nullptr;  // same shape; -1e30 marks an empty slot
    Buffer* rows = nullptr;         // [capacity][head_dim]
    int64_t* n_rows = nullptr;      // rows in use; advanced by the rows this batch emits
};

// The lightning indexer: for each token, which compressed rows its attention may see. Rows
// visible at position p are the first (p + 1) / ratio; when there are more than top_k, the top_k
// best-scoring ones (ties to the lower index) are kept.
struct IndexerStep {
    const Buffer* q = nullptr;             // [n_tokens][n_head * head_dim], final (rounded) form
    const Buffer* head_weights = nullptr;  // [n_tokens][n_head]
    float weight_scale = 1;                // multiplies head_weights
    const Buffer* rows = nullptr;          // indexer compressed rows [capacity][head_dim]
    uint32_t ratio = 0;
    uint32_t top_k = 0;
    uint32_t n_head = 0;
    uint32_t head_dim = 0;
    int64_t pos0 = 0;
    int64_t n_tokens = 0;
    Buffer* selection = nullptr;  // i32 [n_tokens][top_k]: ascending row ids, then -1 padding
};

// Multi-query attention with a per-head sink logit over, for the token at position p: the raw
// rows of positions max(0, p - window + 1) .. p (oldest first), then the visible compressed rows
// in index order. Rows before pos0 come from `ring` (position q at row q % window), the others
// from this batch's `kv`.
struct AttentionStep {
    const Buffer* q = nullptr;   // [n_tokens][n_head * head_dim]
    const Buffer* kv = nullptr;  // [n_tokens][head_dim], already rounded as stored
    const Buffer* ring = nullptr;
    uint32_t window = 0;
    const Buffer* comp_rows = nullptr;  // null on layers without compression
    uint32_t ratio = 0;                 // compressed rows visible at p: (p + 1) / ratio
    const Buffer* selection = nullptr;  // from IndexerStep; null = every visible row
    const float* sinks = nullptr;       // [n_head]
    uint32_t n_head = 0;
    uint32_t head_dim = 0;
    int64_t pos0 = 0;
    int64_t n_tokens = 0;
    Buffer* out = nullptr;  // [n_tokens][n_head * head_dim]
};

// Expert choice and weights per token. Hash routing (tid2eid set) takes the table's experts in
// table order; otherwise the top n_used of prob + bias (descending, ties to the lower id). The
// weights always come from the unbiased probabilities sqrt(softplus(logit)).
struct RouterStep {
    const Buffer* logits = nullptr;    // [n_tokens][n_expert]
    const float* bias = nullptr;       // [n_expert], selection only; may be null
    const int32_t* tid2eid = nullptr;  // [n_vocab][n_used]; null = learned routing
    std::span<const int32_t> tokens;   // the batch's token ids (hash routing)
    uint32_t n_used = 0;
    bool normalize = true;  // divide by the sum of the chosen probabilities
    float scale = 1;
    int64_t n_tokens = 0;
    Buffer* ids = nullptr;      // i32 [n_tokens][n_used]
    Buffer* weights = nullptr;  // [n_tokens][n_used]
};

// Routed experts: per slot, silu(min(gate, clamp)) * clamp(up, +-clamp) * weight, then down,
// summed over slots in slot order. In Q8 numerics the input and the weighted mid rows are
// quantized to the expert type's activation format.
struct MoeStep {
    const Buffer* x = nullptr;
    const Buffer* ids = nullptr;
    const Buffer* weights = nullptr;
    const model::ExpertStack* gate = nullptr;
    const model::ExpertStack* up = nullptr;
    const model::ExpertStack* down = nullptr;
    float clamp = 0;
    Numerics numerics = Numerics::Q8;
    int64_t n_tokens = 0;
    Buffer* out = nullptr;  // [n_tokens][down->n_out]
};

// One product of a batched matmul_many call.
struct MatmulTarget {
    const WeightMatrix* w = nullptr;
    Buffer* out = nullptr;  // [n][w->n_out]
};

class Backend {
  public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // ---- memory --------------------------------------------------------------------------
    // Contents are unspecified until written or filled.
    virtual BufferPtr allocate(DType dtype, int64_t rows, int64_t cols) = 0;
    virtual void fill(Buffer& buffer, float value) = 0;
    // Host transfers of whole rows (4 bytes per element for both dtypes).
    virtual void write_rows(Buffer& dst, int64_t row0, int64_t n_rows, const void* src) = 0;
    virtual void read_rows(const Buffer& src, int64_t row0, int64_t n_rows, void* dst) = 0;
    virtual void copy_rows(const Buffer& src, int64_t src_row0, Buffer& dst, int64_t dst_row0,
                           int64_t n_rows) = 0;

    // ---- dense ops (row t of every buffer belongs to token t) ------------------------------
    // Every stream of hc[t] = dequantized table row tokens[t]; hc is [n][n_hc * n_embd].
    virtual void embed(const WeightMatrix& table, std::span<const int32_t> tokens, Buffer& hc) = 0;
    // out[t] = w . x[t]; x is [n][w.n_in], out [n][w.n_out].
    virtual void matmul(const WeightMatrix& w, const Buffer& x, int64_t n_tokens, Buffer& out,
                        Numerics numerics) = 0;
    // matmul of the same x by several matrices: each output equal to its own matmul call, but
    // x is prepared once per activation format and the products share one pass over the
    // workers. The default runs the matmuls one by one.
    virtual void matmul_many(std::span<const MatmulTarget> targets, const Buffer& x,
                             int64_t n_tokens, Numerics numerics) {
        for (const MatmulTarget& target : targets)
            matmul(*target.w, x, n_tokens, *target.out, numerics);
    }
    // Rows of w in n_groups equal blocks; block g multiplies the g-th w.n_in slice of x[t].
    // x is [n][n_groups * w.n_in], out [n][w.n_out].
    virtual void grouped_matmul(const WeightMatrix& w, uint32_t n_groups, const Buffer& x,
                                int64_t n_tokens, Buffer& out, Numerics numerics) = 0;
    // out[t] = x[t] / rms(x[t]) * weight (weight may be null). The sum of squares is taken in
    // double. out may be x.
    virtual void rms_norm(const Buffer& x, int64_t n_tokens, const float* weight, float eps,
                          Buffer& out) = 0;
    // The same, without weight, on each head_dim slice of every row, in place.
    virtual void rms_norm_heads(Buffer& x, int64_t n_tokens, uint32_t head_dim, float eps) = 0;
    // out = a + b (elementwise over the first n_tokens rows); out may alias a or b.
    virtual void add(const Buffer& a, const Buffer& b, int64_t n_tokens, Buffer& out) = 0;
    // out = silu(min(gate, clamp)) * clamp(up, -clamp, clamp); out may alias gate or up.
    virtual void swiglu(const Buffer& gate, const Buffer& up, int64_t n_tokens, float clamp,
                        Buffer& out) = 0;
    // Scales every element of the first n_tokens rows.
    virtual void scale(Buffer& x, int64_t n_tokens, float factor) = 0;

    // ---- hyper-connections -----------------------------------------------------------------
    // From hc [n][n_hc * n_embd]: normalise the flat state, mix it through w.fn, split into
    // pre/post/comb (Sinkhorn on comb) -> split [n][hc_split_width], x[t] = sum_h pre_h hc[t][h].
    virtual void hc_pre(const Buffer& hc, int64_t n_tokens, const model::HyperConnectionWeights& w,
                        const HyperParams& params, Buffer& x, Buffer& split) = 0;
    // hc_out[t][j] = f[t] * post_j + sum_i comb[i][j] * hc_in[t][i]; hc_out may be hc_in.
    virtual void hc_post(const Buffer& f, const Buffer& hc_in, const Buffer& split,
                         int64_t n_tokens, uint32_t n_hc, Buffer& hc_out) = 0;
    // The output head's collapse of the streams into one row of n_embd.
    virtual void hc_collapse(const Buffer& hc, int64_t n_tokens,
                             const model::HyperConnectionWeights& w, const HyperParams& params,
                             Buffer& out) = 0;

    // ---- attention pieces ------------------------------------------------------------------
    // Rotates the RoPE tail of each head of x[t] at position pos0 + t (inverse: by -theta).
    virtual void rope_tail(Buffer& x, int64_t n_tokens, uint32_t head_dim, int64_t pos0,
                           const RopeParams& rope, bool inverse) = 0;
    // KV row storage rounding: FP8 E4M3 round trip (blocks of 64) on dims [0, nope_dim), then
    // every element rounded to f16.
    virtual void round_kv_rows(Buffer& x, int64_t n_tokens, uint32_t nope_dim) = 0;
    // Hadamard transform + FP4 E2M1 round trip (blocks of 32) on each head_dim slice.
    virtual void hadamard_fp4(Buffer& x, int64_t n_tokens, uint32_t head_dim) = 0;
    virtual void compressor_step(const CompressorStep& step) = 0;
    virtual void indexer_select(const IndexerStep& step) = 0;
    virtual void attention(const AttentionStep& step) = 0;
    // Stores the batch's raw rows of the last `window` positions into the ring.
    virtual void ring_store(const Buffer& kv, int64_t n_tokens, int64_t pos0, uint32_t window,
                            Buffer& ring) = 0;

    // ---- feed-forward ----------------------------------------------------------------------
    virtual void route(const RouterStep& step) = 0;
    virtual void routed_moe(const MoeStep& step) = 0;
};

}  // namespace dsv4::backend
