// The sampler chain's shared declarations (docs/DESIGN.md, "Sampler semantics"). Every pass of
// the chain binds the same buffers, so each pass reads what the earlier ones left in the
// lane's state. Mirrors src/sampling/gpu.rs (LaneParams, LaneRecord, the LaneState layout).
//
// Working logit of token i: w = logits[lane, i] / t_first (the penalty pass has already
// edited the logits in place). Token i is in play when w is finite.
// Defines: V (vocabulary), MAX_LANES, HCAP (history ring per lane), NT (invocations per
// lane in the Row variant's slice passes, one flat range: lane = id / NT), WG (workgroup
// size of the Cooperative variant), ID_ROUNDS and IDMASK (top-k breaks ties on IDMASK − id,
// ID_ROUNDS bytes), HW and PART (words of `hist` and `part` per lane), COOP (Cooperative
// variant: one workgroup per lane, shared memory).

const F_GREEDY: u32 = 1u;
const F_TEMP_LAST: u32 = 2u;
const F_SIGMA: u32 = 4u;
const F_TOP_K: u32 = 8u;
const F_TOP_P: u32 = 16u;
const F_MIN_P: u32 = 32u;
const F_PENALTY: u32 = 64u;

const FMAX: f32 = 3.402823466e+38f;
const NONE: u32 = 0xffffffffu;

struct LaneParams {
    flags: u32,
    t_first: f32,        // divisor before truncation (1 unless temperature goes first)
    t_last: f32,         // divisor when sampling (1 unless temperature goes last)
    top_k: u32,
    top_p_fx: u32,       // round(top_p · 2^32)
    ln_min_p: f32,
    n_sigma: f32,
    penalty: f32,
    penalty_last_n: u32,
    seed_lo: u32,
    seed_hi: u32,
    sample_index: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

struct Uniforms {
    n_lanes: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    lane: array<LaneParams, MAX_LANES>,
}

// A sort-free threshold search (sample_select.wgsl): the largest search key whose weight
// at or above it reaches the goal, one digit per round. Weights are u64 as (lo, hi).
struct Search {
    bucket: u32,         // round 0's digit: the value bucket
    key: u32,            // the value key found so far (bytes not yet found are 0)
    id: u32,             // top-k only: IDMASK − id of the last kept tie (0: all ties kept)
    listed: u32,         // candidates in the lane's list after round 1 (NONE: too many)
    above_lo: u32,       // weight of the tokens already known to be above the prefix
    above_hi: u32,
    goal_lo: u32,
    goal_hi: u32,
    round: u32,
    done: u32,
}

struct LaneState {
    argmax: u32,         // greedy pick: first maximum of the penalized logits
    in_play: u32,
    max: f32,            // largest working logit in play
    sigma: f32,          // top-nσ threshold
    done: u32,           // 1: greedy, or nothing in play: the token is `argmax`
    head: u32,           // history ring: next slot, entries filled, step counter
    len: u32,
    step: u32,
    lo: f32,             // smallest working logit in play
    scale: f32,          // 256 / (max − lo): value buckets of the searches' round 0
    _pad0: u32,
    _pad1: u32,
    k: Search,
    p: Search,
    ring: array<u32, HCAP>,
}

// What comes back to the CPU per lane and step (64 bytes).
struct Record {
    token: u32,
    survivors: u32,
    max: f32,
    applied: u32,        // the lane's flags: which thresholds below mean something
    sigma: f32,
    top_k: f32,
    top_k_last_id: u32,
    top_p: f32,
    min_p: f32,
    token_logit: f32,
    token_prob: f32,
    step: u32,
    in_play: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;        // [lanes, V]
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;        // [lanes]
@group(0) @binding(3) var<storage, read_write> lanes: array<LaneState>;   // [MAX_LANES]
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;  // [MAX_LANES, HW] (Row): 256 × (lo, hi), list count
@group(0) @binding(5) var<storage, read_write> part: array<u32>;          // [MAX_LANES, PART]: partials, candidates, masks
@group(0) @binding(6) var<storage, read_write> records: array<Record>;    // [MAX_LANES]

fn is_finite(w: f32) -> bool {
    return (bitcast<u32>(w) & 0x7f800000u) != 0x7f800000u;
}

// Order-preserving key of a non-NaN float (−0 counts as +0): a < b ⇔ fkey(a) < fkey(b).
fn fkey(w: f32) -> u32 {
    let b = bitcast<u32>(select(w, 0.0, w == 0.0));
    return select(b | 0x80000000u, ~b, b >= 0x80000000u);
}

fn fval(k: u32) -> f32 {
    return bitcast<f32>(select(~k, k & 0x7fffffffu, k >= 0x80000000u));
}

// The thresholds of one lane, read once per invocation.
struct Cuts {
    flags: u32,
    t_first: f32,
    t_last: f32,
    max: f32,
    lo: f32,
    scale: f32,
    sigma: f32,
    k_key: u32,
    k_id: u32,
    p_key: u32,
    min_p: f32,
}

fn cuts(lane: u32) -> Cuts {
    let p = u.lane[lane];
    let max = lanes[lane].max;
    return Cuts(p.flags, p.t_first, p.t_last, max, lanes[lane].lo, lanes[lane].scale, lanes[lane].sigma, lanes[lane].k.key,
                lanes[lane].k.id, lanes[lane].p.key, max + p.ln_min_p);
}

fn working(lane: u32, i: u32, c: Cuts) -> f32 {
    return logits[lane * V + i] / c.t_first;
}

fn pass_sigma(c: Cuts, w: f32) -> bool {
    return (c.flags & F_SIGMA) == 0u || w >= c.sigma;
}

// (value desc, id asc) order: ties of the k-th value survive up to the id cut.
fn pass_k(c: Cuts, key: u32, i: u32) -> bool {
    return key > c.k_key || (key == c.k_key && (IDMASK - i) >= c.k_id);
}

fn pass_p(c: Cuts, key: u32) -> bool {
    return key >= c.p_key;
}

fn pass_min_p(c: Cuts, w: f32) -> bool {
    return (c.flags & F_MIN_P) == 0u || w >= c.min_p;
}

// Every truncation (steps 4–7); k and p must be final.
fn survives(c: Cuts, w: f32, i: u32) -> bool {
    if (!is_finite(w) || !pass_sigma(c, w) || !pass_min_p(c, w)) {
        return false;
    }
    let key = fkey(w);
    return pass_k(c, key, i) && pass_p(c, key);
}

// u64 as vec2(lo, hi).
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn ge64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y > b.y || (a.y == b.y && a.x >= b.x);
}

// A softmax weight m = exp(w − max) ∈ [0, 1] in 24.40 fixed point: sums are exact and
// independent of order, so every variant finds the same top-p threshold.
fn mass_fx(m: f32) -> vec2<u32> {
    let s = m * 256.0;
    let hi = floor(s);
    return vec2<u32>(u32((s - hi) * 4294967296.0), u32(hi));
}
