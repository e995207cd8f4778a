// Causal grouped-query attention over the KV cache, in two passes:
//   scores: s[m, h, t] = q[m, h] · kc[t, h/G] · SCALE,  one invocation per (4 t, h, m)
//   mix:    out[m, h] = Σ_t softmax_t(s[m, h, :]) · vc[t, h/G],  t = first(pos[m]) ..= pos[m],
//           one invocation per (16 or 4 output dims, h, m), with a running (online) softmax.
// Why two passes: one invocation per (head, row) gave a decode step 9 invocations, one
// workgroup, so one CPU core on a software adapter, each holding q and its accumulator in
// private arrays, which SwiftShader keeps in memory (28% of a SwiftShader step at position
// 128). Split this way a step has H·(pos+1)/4 and H·HD/16 invocations, no private arrays.
// Position t is read from the row's KV slot (common.wgsl: shared prefix, then the lane's
// own part). A sliding window (WINDOW > 0: Gemma's local layers) lets a query see only the
// WINDOW positions ending at its own, as llama.cpp's LLAMA_SWA_TYPE_STANDARD does.
// Defines: H, HKV, HD, NCTX (the score rows' stride), SCALE (usually HD^-½), WINDOW (0: all),
// QUAD (below), KV_F16 (caches hold pack2x16float pairs).

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> info: array<RowInfo>;         // [M]
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;          // [M, H·HD/4]
#if KV_F16
@group(0) @binding(3) var<storage, read> kc: array<vec2<u32>>;         // [SLOTS, HKV·HD/4] f16
@group(0) @binding(4) var<storage, read> vc: array<vec2<u32>>;
fn k4(i: u32) -> vec4<f32> {
    let w = kc[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
fn v4(i: u32) -> vec4<f32> {
    let w = vc[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
#else
@group(0) @binding(3) var<storage, read> kc: array<vec4<f32>>;         // [SLOTS, HKV·HD/4]
@group(0) @binding(4) var<storage, read> vc: array<vec4<f32>>;
fn k4(i: u32) -> vec4<f32> {
    return kc[i];
}
fn v4(i: u32) -> vec4<f32> {
    return vc[i];
}
#endif
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;  // [M, H·HD/4]
@group(0) @binding(6) var<storage, read_write> s: array<f32>;          // [M, H, NCTX] scores

const HV4: u32 = HD / 4u;
const GROUP: u32 = H / HKV;

// The first position a query at `pos` attends to.
fn first(pos: u32) -> u32 {
    if (WINDOW > 0u && pos >= WINDOW) {
        return pos + 1u - WINDOW;
    }
    return 0u;
}

// Four positions an invocation (t = 4·gid.x ..): q is loaded once for all four, so a
// score costs 5 vector loads instead of 8 (each one a gather on a CPU adapter).
@compute @workgroup_size(64)
fn scores(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t0 = 4u * gid.x;
    let h = gid.y;
    let m = gid.z;
    if (h >= H || m >= rows.n) {
        return;
    }
    let r = info[m];
    if (t0 > r.pos || t0 + 3u < first(r.pos)) {
        return;
    }
    // Positions past the row's last are clamped to it: computed, never stored.
    let t = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(r.pos));
    let kvh = h / GROUP;
    let kb = (vec4<u32>(kv_slot(t.x, r), kv_slot(t.y, r), kv_slot(t.z, r), kv_slot(t.w, r)) * HKV + kvh) * HV4;
    let qb = (m * H + h) * HV4;
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < HV4; i++) {
        let qi = q[qb + i];
        acc += vec4<f32>(dot(qi, k4(kb.x + i)), dot(qi, k4(kb.y + i)), dot(qi, k4(kb.z + i)), dot(qi, k4(kb.w + i)));
    }
    acc *= SCALE;
    let sb = (m * H + h) * NCTX + t0;
    s[sb] = acc.x;
    if (t0 + 1u <= r.pos) {
        s[sb + 1u] = acc.y;
    }
    if (t0 + 2u <= r.pos) {
        s[sb + 2u] = acc.z;
    }
    if (t0 + 3u <= r.pos) {
        s[sb + 3u] = acc.w;
    }
}

// QUAD: an invocation mixes 16 output dims (4 vec4, HD a multiple of 16), else 4: each
// invocation recomputes its head's softmax weights, so fewer, wider invocations spend
// fewer exps. 16-wide workgroups spread a decode step's few invocations over the cores.
#if QUAD
const DV: u32 = 4u;
#else
const DV: u32 = 1u;
#endif

@compute @workgroup_size(16)
fn mix(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x * DV; // h · HV4 + i: head h, output vec4s i .. i+DV-1
    let m = gid.y;
    if (j >= H * HV4 || m >= rows.n) {
        return;
    }
    let h = j / HV4;
    let vo = (h / GROUP) * HV4 + j % HV4;
    let r = info[m];
    let sb = (m * H + h) * NCTX;
    var mx = -3.402823466e+38f;
    var l = 0.0;
    var a0 = vec4<f32>(0.0);
#if QUAD
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
#endif
    for (var t = first(r.pos); t <= r.pos; t++) {
        let st = s[sb + t];
        if (st > mx) {
            let c = exp(mx - st);
            l *= c;
            a0 *= c;
#if QUAD
            a1 *= c;
            a2 *= c;
            a3 *= c;
#endif
            mx = st;
        }
        let p = exp(st - mx);
        l += p;
        let vb = kv_slot(t, r) * HKV * HV4 + vo;
        a0 += p * v4(vb);
#if QUAD
        a1 += p * v4(vb + 1u);
        a2 += p * v4(vb + 2u);
        a3 += p * v4(vb + 3u);
#endif
    }
    let ob = m * H * HV4 + j;
    out[ob] = a0 / l;
#if QUAD
    out[ob + 1u] = a1 / l;
    out[ob + 2u] = a2 / l;
    out[ob + 3u] = a3 / l;
#endif
}
