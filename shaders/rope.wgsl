// RoPE as llama.cpp's `llama` arch does it ("normal", not NeoX): within each head, the pair
// (2i, 2i+1) is rotated by pos · base^(-2i/ROT) for i < ROT/2. The cos/sin table is computed
// on the CPU in f64 (GPU sin/cos lose accuracy at large angles).
// q is rotated in place; k is rotated and stored, with v, into this layer's KV cache at the
// row's slot (common.wgsl). KV_F16 stores each (even, odd) pair as pack2x16float, halving
// the cache. One invocation per (head slot, row): slots 0..H are q heads, H..H+HKV the kv
// heads. Defines: H, HKV, HD, ROT, KV_F16.

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> info: array<RowInfo>;       // [M]
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;       // [CTX, ROT/2] (cos, sin)
@group(0) @binding(3) var<storage, read_write> q: array<vec2<f32>>;  // [M, H·HD/2]
@group(0) @binding(4) var<storage, read> k: array<vec2<f32>>;        // [M, HKV·HD/2]
@group(0) @binding(5) var<storage, read> v: array<vec2<f32>>;        // [M, HKV·HD/2]
#if KV_F16
@group(0) @binding(6) var<storage, read_write> kc: array<u32>;       // [SLOTS, HKV·HD/2] f16 pairs
@group(0) @binding(7) var<storage, read_write> vc: array<u32>;
#else
@group(0) @binding(6) var<storage, read_write> kc: array<vec2<f32>>; // [SLOTS, HKV·HD/2]
@group(0) @binding(7) var<storage, read_write> vc: array<vec2<f32>>;
#endif

const HP: u32 = HD / 2u;   // pairs per head
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

fn rot(p: vec2<f32>, c: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(p.x * c.x - p.y * c.y, p.x * c.y + p.y * c.x);
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
    let t = p * (ROT / 2u);
    if (slot < H) {
        let base = (m * H + slot) * HP;
        for (var i = 0u; i < ROT / 2u; i++) {
            q[base + i] = rot(q[base + i], cs[t + i]);
        }
    } else {
        let h = slot - H;
        let src = (m * HKV + h) * HP;
        let dst = (kv_slot(p, r) * HKV + h) * HP;
        for (var i = 0u; i < HP; i++) {
            var kk = k[src + i];
            if (i < ROT / 2u) {
                kk = rot(kk, cs[t + i]);
            }
            kc[dst + i] = pack(kk);
            vc[dst + i] = pack(v[src + i]);
        }
    }
}
