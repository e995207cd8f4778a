// Steps 2 and 4 as one reduction over the lane's row: the greedy pick (first maximum of the
// penalized logits, NaN never wins), the max and count of the working logits in play, and
// their min (for the searches' value buckets), mean and M2 (Welford per slice, Chan's merge
// across slices) for σ. `finish_stats`
// sets the lane's top-nσ threshold and starts the top-k and top-p searches.
// Row: `stats_map` reduces NT strided slices per lane into `part`, `stats_combine` merges
// them in slice order. COOP: `stats_coop`, one workgroup per lane, a shared-memory tree.

struct Stats {
    best: f32,
    best_id: u32,
    max: f32,
    lo: f32,
    n: u32,
    mean: f32,
    m2: f32,
}

fn stats_partial(lane: u32, first: u32, stride: u32) -> Stats {
    let c = cuts(lane);
    let welford = (c.flags & F_SIGMA) != 0u;
    var s = Stats(-FMAX, NONE, -FMAX, FMAX, 0u, 0.0, 0.0);
    for (var i = first; i < V; i += stride) {
        let z = logits[lane * V + i];
        // Any z ≥ −FMAX starts the argmax (−inf and NaN never do, as in cpu::greedy_pick).
        if (z > s.best || (s.best_id == NONE && z >= -FMAX)) {
            s.best = z;
            s.best_id = i;
        }
        let w = z / c.t_first;
        if (is_finite(w)) {
            s.max = max(s.max, w);
            s.lo = min(s.lo, w);
            s.n += 1u;
            if (welford) {
                let d = w - s.mean;
                s.mean += d / f32(s.n);
                s.m2 += d * (w - s.mean);
            }
        }
    }
    return s;
}

fn merge_stats(a: Stats, b: Stats) -> Stats {
    var r = a;
    if (b.best_id != NONE && (a.best_id == NONE || b.best > a.best || (b.best == a.best && b.best_id < a.best_id))) {
        r.best = b.best;
        r.best_id = b.best_id;
    }
    r.max = max(a.max, b.max);
    r.lo = min(a.lo, b.lo);
    r.n = a.n + b.n;
    if (b.n > 0u && a.n > 0u) {
        let na = f32(a.n);
        let nb = f32(b.n);
        let d = b.mean - a.mean;
        r.mean = a.mean + d * (nb / f32(r.n));
        r.m2 = a.m2 + b.m2 + d * d * (na * nb / f32(r.n));
    } else if (b.n > 0u) {
        r.mean = b.mean;
        r.m2 = b.m2;
    }
    return r;
}

fn start_search(done: bool, goal: u32) -> Search {
    return Search(0u, 0u, 0u, NONE, 0u, 0u, goal, 0u, 0u, select(0u, 1u, done));
}

fn finish_stats(lane: u32, s: Stats) {
    let p = u.lane[lane];
    let done = (p.flags & F_GREEDY) != 0u || s.n == 0u;
    lanes[lane].argmax = select(s.best_id, 0u, s.best_id == NONE);
    lanes[lane].in_play = s.n;
    lanes[lane].max = s.max;
    lanes[lane].lo = s.lo;
    let scale = 256.0 / (s.max - s.lo);
    lanes[lane].scale = select(0.0, scale, s.max > s.lo && is_finite(scale));
    lanes[lane].sigma = s.max - p.n_sigma * sqrt(s.m2 / f32(max(s.n, 1u)));
    lanes[lane].done = select(0u, 1u, done);
    // top-k is skipped when it cannot cut; top-p's goal needs the total mass (round 0).
    let k_on = (p.flags & F_TOP_K) != 0u && p.top_k < s.n;
    lanes[lane].k = start_search(done || !k_on, p.top_k);
    lanes[lane].p = start_search(done || (p.flags & F_TOP_P) == 0u, 0u);
#if !COOP
    for (var d = 0u; d < HW; d++) {
        atomicStore(&hist[lane * HW + d], 0u);
    }
#endif
}

#if COOP
var<workgroup> wg_stats: array<Stats, WG>;

@compute @workgroup_size(WG)
fn stats_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lane = wid.x;
    wg_stats[lid] = stats_partial(lane, lid, WG);
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            wg_stats[lid] = merge_stats(wg_stats[lid], wg_stats[lid + s]);
        }
    }
    if (lid == 0u) {
        finish_stats(lane, wg_stats[0]);
    }
}
#else
@compute @workgroup_size(64)
fn stats_map(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x % NT;
    let lane = gid.x / NT;
    if (lane >= u.n_lanes) {
        return;
    }
    let s = stats_partial(lane, j, NT);
    let o = lane * PART + j * 7u;
    part[o] = bitcast<u32>(s.best);
    part[o + 1u] = s.best_id;
    part[o + 2u] = bitcast<u32>(s.max);
    part[o + 3u] = bitcast<u32>(s.lo);
    part[o + 4u] = s.n;
    part[o + 5u] = bitcast<u32>(s.mean);
    part[o + 6u] = bitcast<u32>(s.m2);
}

@compute @workgroup_size(64)
fn stats_combine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let lane = gid.x;
    if (lane >= u.n_lanes) {
        return;
    }
    var s = Stats(-FMAX, NONE, -FMAX, FMAX, 0u, 0.0, 0.0);
    for (var j = 0u; j < NT; j++) {
        let o = lane * PART + j * 7u;
        let b = Stats(bitcast<f32>(part[o]), part[o + 1u], bitcast<f32>(part[o + 2u]), bitcast<f32>(part[o + 3u]),
                      part[o + 4u], bitcast<f32>(part[o + 5u]), bitcast<f32>(part[o + 6u]));
        s = merge_stats(s, b);
    }
    finish_stats(lane, s);
}
#endif
