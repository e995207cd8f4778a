// Philox4x32-10 and the dice of the sampler: the same function as src/sampling/philox.rs,
// which checks both against Random123's known-answer vectors. WGSL has no 32×32→64 multiply,
// so mulhilo builds the high word from 16-bit halves (exact).

// (high, low) words of a · b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// u ∈ (0, 1): (m + 1/2) / 2^23 from the top 23 bits, exact in f32.
fn u01(x: u32) -> f32 {
    return (f32(x >> 9u) + 0.5) * (1.0 / 8388608.0);
}

// −ln(−ln u) for u = u01(x). Near u = 1, where a large vocabulary's winners draw, −ln u
// taken from u keeps only the log's absolute error (2^-21 allowed on [0.5, 2]), which at
// 1 − u ≈ 4e-6 is a 10% error in the noise; so it is taken from d = 1 − u, exact in f32
// like u, as 2·atanh(d / (2 − d)) by its series (s² ≤ 1/9; the first term left out is
// below 1.5e-8 relative).
fn gumbel_of_bits(x: u32) -> f32 {
    let d = (f32(8388608u - (x >> 9u)) - 0.5) * (1.0 / 8388608.0);
    var e: f32;
    if (d < 0.5) {
        let s = d / (2.0 - d);
        let t = s * s;
        let series = 1.0 + t * (1.0 / 3.0 + t * (1.0 / 5.0 + t * (1.0 / 7.0 + t * (1.0 / 9.0 + t * (1.0 / 11.0 + t * (1.0 / 13.0))))));
        e = 2.0 * s * series;
    } else {
        e = -log(u01(x));
    }
    return -log(e);
}

// Gumbel noise of token `token` at (step, sample) under the key (seed low, seed high).
fn gumbel(token: u32, step: u32, sample: u32, key: vec2<u32>) -> f32 {
    return gumbel_of_bits(philox4x32_10(vec4<u32>(token, step, sample, 0u), key).x);
}
