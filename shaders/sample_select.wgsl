// Steps 5 and 6 without sorting: the top-k and top-p thresholds as radix searches. Each
// eligible token has a search key, compared digit by digit from the top:
//   round 0      its value bucket ⌊(w − lo) · 256 / (max − lo)⌋ (monotone in w),
//   rounds 1–4   the 4 bytes of the order-preserving u32 key of w,
//   rounds 5–    (top-k only) the ID_ROUNDS bytes of IDMASK − id: among equal values the
//                lower id ranks higher,
// so the key order is (w desc, id asc). A round histograms the digit of the tokens that
// match the digits found so far and takes the digit where the weight counted from the top
// reaches the goal. The search ends with the largest key whose weight at or above it
// reaches the goal:
//   top-k (SEL_P off): weight 1, goal k → exactly k survive (the id rounds are skipped when
//     all ties of the k-th value fit);
//   top-p (SEL_P on): weight exp(w − max) in 24.40 fixed point, goal ⌈p · total⌉ → the value
//     of the token that crosses p; every token ≥ it survives (ties included).
// Integer weights make every sum exact and order-independent: the threshold is the
// definition's, not a rounding of it. Eligible: in play, above the σ threshold, and (top-p)
// inside top-k.
// Round 1 also copies the tokens of the chosen bucket (few, except on flat rows) to a list
// in `part`, and later rounds read only the list: two passes over the row per search.
// Row: `select_map` builds the histogram with atomics on the lane's global bins,
// `select_combine` scans and clears it; the CPU records a pair for rounds 0 and 1, and the
// combine of round 1 runs the remaining rounds itself over the list. COOP:
// `select_coop` runs every round in one workgroup per lane with a shared-memory histogram.
// (No large private arrays here: lavapipe's LLVM took 13–35 s to compile one with 256
// entries.)

#if SEL_P
const ROUNDS: u32 = 5u;
#else
const ROUNDS: u32 = 5u + ID_ROUNDS;
#endif
const LIST_COUNT: u32 = 512u; // word of the lane's `hist` holding the list length (Row)

fn search_of(lane: u32) -> Search {
#if SEL_P
    return lanes[lane].p;
#else
    return lanes[lane].k;
#endif
}

fn store_search(lane: u32, s: Search) {
#if SEL_P
    lanes[lane].p = s;
#else
    lanes[lane].k = s;
#endif
}

fn bucket(c: Cuts, w: f32) -> u32 {
    return u32(min(max(w - c.lo, 0.0) * c.scale, 255.0));
}

// Digit `r` of token i's search key.
fn digit(c: Cuts, w: f32, key: u32, i: u32, r: u32) -> u32 {
    if (r == 0u) {
        return bucket(c, w);
    }
    if (r < 5u) {
        return (key >> (32u - 8u * r)) & 0xffu;
    }
    return ((IDMASK - i) >> (8u * (ID_ROUNDS - 1u - (r - 5u)))) & 0xffu;
}

// Does token i agree with the digits found in rounds before s.round?
fn matches(c: Cuts, w: f32, key: u32, i: u32, s: Search) -> bool {
    let r = s.round;
    if (r == 0u) {
        return true;
    }
    if (r <= 5u && bucket(c, w) != s.bucket) {
        return false;
    }
    if (r == 1u) {
        return true;
    }
    if (r < 5u) {
        return ((key ^ s.key) >> (40u - 8u * r)) == 0u;
    }
    if (key != s.key) {
        return false;
    }
    let q = r - 5u;
    return q == 0u || (((IDMASK - i) ^ s.id) >> (8u * (ID_ROUNDS - q))) == 0u;
}

// The token's weight if it takes part in this round (vec2(0, NONE) if not).
fn weight(c: Cuts, w: f32, i: u32, s: Search) -> vec2<u32> {
    if (!is_finite(w) || !pass_sigma(c, w)) {
        return vec2<u32>(0u, NONE);
    }
    let key = fkey(w);
#if SEL_P
    if (!pass_k(c, key, i) || !matches(c, w, key, i, s)) {
        return vec2<u32>(0u, NONE);
    }
    return mass_fx(exp(w - c.max));
#else
    if (!matches(c, w, key, i, s)) {
        return vec2<u32>(0u, NONE);
    }
    return vec2<u32>(1u, 0u);
#endif
}

#if COOP
var<workgroup> wg_lo: array<atomic<u32>, 256>;
var<workgroup> wg_hi: array<atomic<u32>, 256>;
var<workgroup> wg_count: atomic<u32>;
var<workgroup> wg_search: Search;
var<workgroup> wg_done: u32;

fn hist_add(lane: u32, d: u32, wt: vec2<u32>) {
    let old = atomicAdd(&wg_lo[d], wt.x);
    let hi = wt.y + select(0u, 1u, old + wt.x < old);
    if (hi != 0u) {
        atomicAdd(&wg_hi[d], hi);
    }
}

fn bin(lane: u32, d: u32) -> vec2<u32> {
    return vec2<u32>(atomicLoad(&wg_lo[d]), atomicLoad(&wg_hi[d]));
}

fn list_reserve(lane: u32) -> u32 {
    return atomicAdd(&wg_count, 1u);
}

fn list_count(lane: u32) -> u32 {
    return atomicLoad(&wg_count);
}
#else
fn hist_add(lane: u32, d: u32, wt: vec2<u32>) {
    let o = lane * HW + 2u * d;
    let old = atomicAdd(&hist[o], wt.x);
    let hi = wt.y + select(0u, 1u, old + wt.x < old);
    if (hi != 0u) {
        atomicAdd(&hist[o + 1u], hi);
    }
}

fn bin(lane: u32, d: u32) -> vec2<u32> {
    let o = lane * HW + 2u * d;
    return vec2<u32>(atomicLoad(&hist[o]), atomicLoad(&hist[o + 1u]));
}

fn list_reserve(lane: u32) -> u32 {
    return atomicAdd(&hist[lane * HW + LIST_COUNT], 1u);
}

fn list_count(lane: u32) -> u32 {
    let n = atomicLoad(&hist[lane * HW + LIST_COUNT]);
    atomicStore(&hist[lane * HW + LIST_COUNT], 0u);
    return n;
}

fn clear_bins(lane: u32) {
    for (var d = 0u; d < 256u; d++) {
        atomicStore(&hist[lane * HW + 2u * d], 0u);
        atomicStore(&hist[lane * HW + 2u * d + 1u], 0u);
    }
}
#endif

// One round's histogram over the tokens invocation `first` of `stride` covers: the row, or
// after round 1 the lane's candidate list. Round 1 appends its matching tokens (those of
// the chosen bucket) to the list until it is full.
fn accumulate(lane: u32, first: u32, stride: u32, s: Search) {
    let c = cuts(lane);
    let listed = s.listed != NONE;
    let n = select(V, s.listed, listed);
    var full = false;
    for (var j = first; j < n; j += stride) {
        var i = j;
        if (listed) {
            i = part[lane * PART + j];
        }
        let w = working(lane, i, c);
        let wt = weight(c, w, i, s);
        if (wt.y == NONE) {
            continue;
        }
        let key = fkey(w);
        if (s.round == 1u && !full) {
            let at = list_reserve(lane);
            if (at < PART) {
                part[lane * PART + at] = i;
            } else {
                full = true;
            }
        }
        hist_add(lane, digit(c, w, key, i, s.round), wt);
    }
}

// ⌈t · p / 2^32⌉ for a u64 t and a u32 p (the top-p goal from the total mass).
fn scale_ceil(t: vec2<u32>, p: u32) -> vec2<u32> {
    let a = mulhilo(t.x, p); // (hi, lo) of t.lo · p: bits 32..63, 0..31
    let b = mulhilo(t.y, p); // (hi, lo) of t.hi · p: bits 64..95, 32..63
    let mid = a.x + b.y;
    var r = vec2<u32>(mid, b.x + select(0u, 1u, mid < a.x));
    if (a.y != 0u) {
        r = add64(r, vec2<u32>(1u, 0u));
    }
    return r;
}

// Reads (and, in the Row variant, clears) the round's histogram and takes the digit where
// the running weight from the top reaches the goal. If it never does (fewer than k tokens
// eligible), the lowest non-empty digit, which keeps every eligible token.
fn scan_round(lane: u32, s: ptr<function, Search>) {
    let r = (*s).round;
    if (r == 1u) {
        let n = list_count(lane);
        (*s).listed = select(NONE, n, n <= PART);
    }
    var goal = vec2<u32>((*s).goal_lo, (*s).goal_hi);
#if SEL_P
    if (r == 0u) {
        var total = vec2<u32>(0u, 0u);
        for (var d = 0u; d < 256u; d++) {
            total = add64(total, bin(lane, d));
        }
        goal = scale_ceil(total, u.lane[lane].top_p_fx);
        (*s).goal_lo = goal.x;
        (*s).goal_hi = goal.y;
    }
#endif
    var run = vec2<u32>((*s).above_lo, (*s).above_hi);
    var chosen = NONE;
    var above = run;
    for (var d = 256u; d > 0u; d--) {
        let h = bin(lane, d - 1u);
        if (h.x == 0u && h.y == 0u) {
            continue;
        }
        chosen = d - 1u;
        above = run;
        run = add64(run, h);
        if (ge64(run, goal)) {
            break;
        }
    }
#if !COOP
    clear_bins(lane);
#endif
    if (chosen == NONE) {
        (*s).done = 1u;
        return;
    }
    if (r == 0u) {
        (*s).bucket = chosen;
    } else if (r < 5u) {
        (*s).key |= chosen << (32u - 8u * r);
    } else {
        (*s).id |= chosen << (8u * (ID_ROUNDS - 1u - (r - 5u)));
    }
    (*s).above_lo = above.x;
    (*s).above_hi = above.y;
    (*s).round = r + 1u;
    // After the last value byte, top-k needs the id rounds only if some ties must go.
    let all_ties_fit = r == 4u && ge64(goal, run);
    if ((*s).round == ROUNDS || (!SEL_P && all_ties_fit)) {
        (*s).done = 1u;
    }
}

#if COOP
@compute @workgroup_size(WG)
fn select_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lane = wid.x;
    if (lid == 0u) {
        wg_search = search_of(lane);
        wg_done = wg_search.done;
        atomicStore(&wg_count, 0u);
    }
    loop {
        for (var d = lid; d < 256u; d += WG) {
            atomicStore(&wg_lo[d], 0u);
            atomicStore(&wg_hi[d], 0u);
        }
        if (workgroupUniformLoad(&wg_done) != 0u) {
            break;
        }
        accumulate(lane, lid, WG, wg_search);
        storageBarrier(); // the candidate list written in round 1
        workgroupBarrier();
        if (lid == 0u) {
            var s = wg_search;
            scan_round(lane, &s);
            wg_search = s;
            wg_done = s.done;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        store_search(lane, wg_search);
    }
}
#else
@compute @workgroup_size(64)
fn select_map(@builtin(global_invocation_id) gid: vec3<u32>) {
    let lane = gid.x / NT;
    if (lane >= u.n_lanes) {
        return;
    }
    let s = search_of(lane);
    if (s.done != 0u) {
        return;
    }
    accumulate(lane, gid.x % NT, NT, s);
}

@compute @workgroup_size(64)
fn select_combine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let lane = gid.x;
    if (lane >= u.n_lanes) {
        return;
    }
    var s = search_of(lane);
    if (s.done != 0u) {
        return;
    }
    scan_round(lane, &s);
    // After round 1 the rest runs here, one invocation per lane, over the candidate list
    // (the tokens of one value bucket: a few, or at most PART), or over the row when the
    // list overflowed (rows with more than PART tokens in one bucket, e.g. constant rows).
    // Each round was a map/combine pair of dispatches, and on a CPU adapter a dispatch
    // costs ~30-40 µs however little it does (examples/dispatch_probe): this keeps every
    // search to two pairs.
    if (s.round >= 2u) {
        loop {
            if (s.done != 0u) {
                break;
            }
            accumulate(lane, 0u, 1u, s);
            scan_round(lane, &s);
        }
    }
    store_search(lane, s);
}
#endif
