// Causal grouped-query attention over the KV cache, one invocation per (head, row):
//   out[m, h] = Σ_t softmax_t(q[m, h] · kc[t, h/G] / sqrt(HD)) · vc[t, h/G],  t = 0 ..= pos[m]
// with a running (online) softmax, so a row needs no scratch buffer of scores. Position t
// is read from the row's KV slot (common.wgsl: shared prefix, then the lane's own part).
// Defines: H, HKV, HD, KV_F16 (caches hold pack2x16float pairs).

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

const HV4: u32 = HD / 4u;
const GROUP: u32 = H / HKV;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let h = gid.x;
    let m = gid.y;
    if (h >= H || m >= rows.n) {
        return;
    }
    let kvh = h / GROUP;
    let scale = 1.0 / sqrt(f32(HD));
    var qv: array<vec4<f32>, HV4>;
    var acc: array<vec4<f32>, HV4>;
    let qb = (m * H + h) * HV4;
    for (var i = 0u; i < HV4; i++) {
        qv[i] = q[qb + i] * scale;
    }
    var mx = -3.402823466e+38f;
    var l = 0.0;
    let r = info[m];
    for (var t = 0u; t <= r.pos; t++) {
        let kb = (kv_slot(t, r) * HKV + kvh) * HV4;
        var s = 0.0;
        for (var i = 0u; i < HV4; i++) {
            s += dot(qv[i], k4(kb + i));
        }
        if (s > mx) {
            let c = exp(mx - s);
            l *= c;
            for (var i = 0u; i < HV4; i++) {
                acc[i] *= c;
            }
            mx = s;
        }
        let p = exp(s - mx);
        l += p;
        for (var i = 0u; i < HV4; i++) {
            acc[i] += p * v4(kb + i);
        }
    }
    for (var i = 0u; i < HV4; i++) {
        out[qb + i] = acc[i] / l;
    }
}
