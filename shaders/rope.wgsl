// RoPE on q and k, then k and v into the KV cache. Within each head a pair of elements is
// rotated by pos · base^(-2i/ROT) for i < ROT/2: the pair (2i, 2i+1) (llama.cpp's "normal"
// type, Llama) or, with NEOX, (i, i + ROT/2) (Gemma, Qwen). Elements ≥ ROT pass through.
// The cos/sin table is computed on the CPU in f64 (GPU sin/cos lose accuracy at large
// angles); each layer binds the table of its own RoPE base.
// BIAS first adds the projections' biases to q, k and v (attn_q.bias …: Qwen2), which
// belong to the matmuls before it; QK_NORM then RMS-normalizes every q and k head over its
// HD values with its own weights (attn_q_norm, attn_k_norm: Gemma 3, Qwen3), as llama.cpp
// does before RoPE. Both read one `params` vector: [2, HD] norm weights (q's, then k's)
// with QK_NORM, then [H·HD + 2·HKV·HD] biases (q's, k's, v's) with BIAS.
// q is rotated in place; k is rotated and stored, with v, into this layer's KV cache at the
// row's slot (common.wgsl). KV_F16 stores each (even, odd) pair as pack2x16float, halving
// the cache. One invocation per (head slot, row): slots 0..H are q heads, H..H+HKV the kv
// heads. Defines: H, HKV, HD, ROT, NEOX, QK_NORM (with EPS), BIAS, KV_F16.

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> info: array<RowInfo>;       // [M]
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;       // [CTX, ROT/2] (cos, sin)
@group(0) @binding(3) var<storage, read_write> q: array<f32>;        // [M, H·HD]
@group(0) @binding(4) var<storage, read> k: array<f32>;              // [M, HKV·HD]
@group(0) @binding(5) var<storage, read> v: array<vec2<f32>>;        // [M, HKV·HD/2]
#if KV_F16
@group(0) @binding(6) var<storage, read_write> kc: array<u32>;       // [SLOTS, HKV·HD/2] f16 pairs
@group(0) @binding(7) var<storage, read_write> vc: array<u32>;
#else
@group(0) @binding(6) var<storage, read_write> kc: array<vec2<f32>>; // [SLOTS, HKV·HD/2]
@group(0) @binding(7) var<storage, read_write> vc: array<vec2<f32>>;
#endif
#if PARAMS
@group(0) @binding(8) var<storage, read> params: array<f32>;         // norm weights, biases
#endif

const HP: u32 = HD / 2u;   // pairs per head
const RH: u32 = ROT / 2u;  // rotated pairs per head
#if QK_NORM
const BIAS0: u32 = 2u * HD; // where the biases start in `params`
#else
const BIAS0: u32 = 0u;
#endif
const QB: u32 = BIAS0;                // q's biases, then k's, then v's
const KB: u32 = QB + H * HD;
const VB: u32 = KB + HKV * HD;
#if KV_F16
alias KvPair = u32;
#else
alias KvPair = vec2<f32>;
#endif

fn pack(p: vec2<f32>) -> KvPair {
#if KV_F16
    return pack2x16float(p);
#else
    return p;
#endif
}

// The two elements (within a head) that rotation pair i < RH mixes.
fn pair(i: u32) -> vec2<u32> {
#if NEOX
    return vec2<u32>(i, i + RH);
#else
    return vec2<u32>(2u * i, 2u * i + 1u);
#endif
}

fn rot(p: vec2<f32>, c: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(p.x * c.x - p.y * c.y, p.x * c.y + p.y * c.x);
}

// Bias i of the projection's output (0 without BIAS).
fn bias(i: u32) -> f32 {
#if BIAS
    return params[i];
#else
    return 0.0;
#endif
}

// Element e of the q head at `base` as its projection gives it; `hb`: where the head's
// biases start.
fn q_raw(base: u32, hb: u32, e: u32) -> f32 {
    return q[base + e] + bias(hb + e);
}

fn k_raw(base: u32, hb: u32, e: u32) -> f32 {
    return k[base + e] + bias(hb + e);
}

// q and k head values after the head norm: raw · scale · weight (raw without QK_NORM).
fn q_at(base: u32, hb: u32, e: u32, scale: f32) -> f32 {
#if QK_NORM
    return q_raw(base, hb, e) * scale * params[e];
#else
    return q_raw(base, hb, e);
#endif
}

fn k_at(base: u32, hb: u32, e: u32, scale: f32) -> f32 {
#if QK_NORM
    return k_raw(base, hb, e) * scale * params[HD + e];
#else
    return k_raw(base, hb, e);
#endif
}

// 1 / rms of the HD values of a q (is_q) or k head (1 without QK_NORM).
fn inv_rms(base: u32, hb: u32, is_q: bool) -> f32 {
#if QK_NORM
    var ss = 0.0;
    for (var e = 0u; e < HD; e++) {
        let x = select(k_raw(base, hb, e), q_raw(base, hb, e), is_q);
        ss += x * x;
    }
    return 1.0 / sqrt(ss / f32(HD) + EPS);
#else
    return 1.0;
#endif
}

// Element e of a k head after norm and rotation (t: the row's table offset).
fn k_rotated(base: u32, hb: u32, e: u32, t: u32, scale: f32) -> f32 {
    let x = k_at(base, hb, e, scale);
    if (e >= ROT) {
        return x;
    }
#if NEOX
    let i = e % RH;
    let c = cs[t + i];
    if (e < RH) {
        return x * c.x - k_at(base, hb, e + RH, scale) * c.y;
    }
    return k_at(base, hb, e - RH, scale) * c.y + x * c.x;
#else
    let c = cs[t + e / 2u];
    if (e % 2u == 0u) {
        return x * c.x - k_at(base, hb, e + 1u, scale) * c.y;
    }
    return k_at(base, hb, e - 1u, scale) * c.y + x * c.x;
#endif
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let slot = gid.x;
    let m = gid.y;
    if (slot >= H + HKV || m >= rows.n) {
        return;
    }
    let r = info[m];
    let p = r.pos;
    let t = p * RH;
    if (slot < H) {
        let base = (m * H + slot) * HD;
        let hb = QB + slot * HD;
        let scale = inv_rms(base, hb, true);
        // Every element is read before it is written: the unrotated tail first, then each
        // pair reads only itself.
        for (var e = ROT; e < HD; e++) {
            q[base + e] = q_at(base, hb, e, scale);
        }
        for (var i = 0u; i < RH; i++) {
            let e = pair(i);
            let o = rot(vec2<f32>(q_at(base, hb, e.x, scale), q_at(base, hb, e.y, scale)), cs[t + i]);
            q[base + e.x] = o.x;
            q[base + e.y] = o.y;
        }
    } else {
        let h = slot - H;
        let src = (m * HKV + h) * HD;
        let hb = KB + h * HD;
        let scale = inv_rms(src, hb, false);
        let dst = (kv_slot(p, r) * HKV + h) * HP;
        for (var i = 0u; i < HP; i++) {
            let kk = vec2<f32>(k_rotated(src, hb, 2u * i, t, scale), k_rotated(src, hb, 2u * i + 1u, t, scale));
            kc[dst + i] = pack(kk);
            let vb = VB + h * HD + 2u * i;
            vc[dst + i] = pack(v[src / 2u + i] + vec2<f32>(bias(vb), bias(vb + 1u)));
        }
    }
}
