// Causal grouped-query attention over the KV cache, one invocation per (head, row):
//   out[m, h] = Σ_t softmax_t(q[m, h] · kc[t, h/G] / sqrt(HD)) · vc[t, h/G],  t = 0 ..= pos[m]
// with a running (online) softmax, so a row needs no scratch buffer of scores.
// Defines: H, HKV, HD.

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> pos: array<u32>;              // [M]
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;          // [M, H·HD/4]
@group(0) @binding(3) var<storage, read> kc: array<vec4<f32>>;         // [CTX, HKV·HD/4]
@group(0) @binding(4) var<storage, read> vc: array<vec4<f32>>;         // [CTX, HKV·HD/4]
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
    for (var t = 0u; t <= pos[m]; t++) {
        let kb = (t * HKV + kvh) * HV4;
        var s = 0.0;
        for (var i = 0u; i < HV4; i++) {
            s += dot(qv[i], kc[kb + i]);
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
            acc[i] += p * vc[kb + i];
        }
    }
    for (var i = 0u; i < HV4; i++) {
        out[qb + i] = acc[i] / l;
    }
}
