// Steps 7–9: min-p is a comparison with max + ln(min_p); the token is the Gumbel-max over
// the survivors, argmax of w / t_last + g_i with Philox dice (ties to the lowest id); greedy
// lanes and lanes with nothing in play take the argmax. `finish_pick` writes the token where
// the next step's embedding reads it, the lane's 64-byte record, appends the token to the
// penalty ring and advances the step.
// Row: `pick_map` + `pick_combine`. COOP: `pick_coop`. `mask` (on request, for the
// inspector and the tests) writes the survivor bit set of each lane into `part`.

struct Pick {
    best: f32,
    id: u32,
    count: u32,
    mass: f32, // Σ exp((w − max) / t_last) over the survivors
}

fn pick_partial(lane: u32, first: u32, stride: u32) -> Pick {
    let c = cuts(lane);
    let p = u.lane[lane];
    let step = lanes[lane].step;
    let key = vec2<u32>(p.seed_lo, p.seed_hi);
    var r = Pick(-FMAX, NONE, 0u, 0.0);
    for (var i = first; i < V; i += stride) {
        let w = working(lane, i, c);
        if (!survives(c, w, i)) {
            continue;
        }
        r.count += 1u;
        r.mass += exp((w - c.max) / c.t_last);
        let v = w / c.t_last + gumbel(i, step, p.sample_index, key);
        if (r.id == NONE || v > r.best) {
            r.best = v;
            r.id = i;
        }
    }
    return r;
}

fn merge_pick(a: Pick, b: Pick) -> Pick {
    var r = Pick(a.best, a.id, a.count + b.count, a.mass + b.mass);
    if (b.id != NONE && (a.id == NONE || b.best > a.best || (b.best == a.best && b.id < a.id))) {
        r.best = b.best;
        r.id = b.id;
    }
    return r;
}

fn finish_pick(lane: u32, pk: Pick) {
    let p = u.lane[lane];
    let c = cuts(lane);
    var rec: Record;
    // Which truncations applied: none on the greedy path, top-k not when it could not cut.
    var applied = p.flags;
    if (lanes[lane].done != 0u) {
        applied &= F_GREEDY | F_PENALTY;
    }
    if (c.k_key == 0u) {
        applied &= ~F_TOP_K;
    }
    rec.applied = applied;
    rec.max = c.max;
    rec.in_play = lanes[lane].in_play;
    rec.sigma = select(0.0, c.sigma, (applied & F_SIGMA) != 0u);
    rec.top_k = select(0.0, fval(c.k_key), (applied & F_TOP_K) != 0u);
    rec.top_k_last_id = select(NONE, IDMASK - c.k_id, (applied & F_TOP_K) != 0u && c.k_id != 0u);
    rec.top_p = select(0.0, fval(c.p_key), (applied & F_TOP_P) != 0u);
    rec.min_p = select(0.0, c.min_p, (applied & F_MIN_P) != 0u);
    let step = lanes[lane].step;
    rec.step = step;
    if (lanes[lane].done != 0u || pk.id == NONE) {
        rec.token = lanes[lane].argmax;
        rec.survivors = select(0u, 1u, (p.flags & F_GREEDY) != 0u);
        rec.token_logit = logits[lane * V + rec.token];
        rec.token_prob = 1.0;
    } else {
        rec.token = pk.id;
        rec.survivors = pk.count;
        let w = working(lane, pk.id, c);
        rec.token_logit = w;
        rec.token_prob = exp((w - c.max) / c.t_last) / pk.mass;
    }
    tokens[lane] = rec.token;
    records[lane] = rec;
    let head = lanes[lane].head;
    lanes[lane].ring[head] = rec.token;
    lanes[lane].head = (head + 1u) % HCAP;
    lanes[lane].len = min(lanes[lane].len + 1u, HCAP);
    lanes[lane].step = step + 1u;
}

#if COOP
var<workgroup> wg_pick: array<Pick, WG>;

@compute @workgroup_size(WG)
fn pick_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lane = wid.x;
    var mine = Pick(-FMAX, NONE, 0u, 0.0);
    if (lanes[lane].done == 0u) {
        mine = pick_partial(lane, lid, WG);
    }
    wg_pick[lid] = mine;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            wg_pick[lid] = merge_pick(wg_pick[lid], wg_pick[lid + s]);
        }
    }
    if (lid == 0u) {
        finish_pick(lane, wg_pick[0]);
    }
}
#else
@compute @workgroup_size(64)
fn pick_map(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x % NT;
    let lane = gid.x / NT;
    if (lane >= u.n_lanes || lanes[lane].done != 0u) {
        return;
    }
    let r = pick_partial(lane, j, NT);
    let o = lane * PART + j * 4u;
    part[o] = bitcast<u32>(r.best);
    part[o + 1u] = r.id;
    part[o + 2u] = r.count;
    part[o + 3u] = bitcast<u32>(r.mass);
}

@compute @workgroup_size(64)
fn pick_combine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let lane = gid.x;
    if (lane >= u.n_lanes) {
        return;
    }
    var r = Pick(-FMAX, NONE, 0u, 0.0);
    if (lanes[lane].done == 0u) {
        for (var j = 0u; j < NT; j++) {
            let o = lane * PART + j * 4u;
            r = merge_pick(r, Pick(bitcast<f32>(part[o]), part[o + 1u], part[o + 2u], bitcast<f32>(part[o + 3u])));
        }
    }
    finish_pick(lane, r);
}
#endif

// Survivor bits of lane `gid.y`, tokens 32·gid.x .. 32·gid.x + 31 (after the chain ran).
@compute @workgroup_size(64)
fn mask(@builtin(global_invocation_id) gid: vec3<u32>) {
    let word = gid.x;
    let lane = gid.y;
    if (word * 32u >= V) {
        return;
    }
    let c = cuts(lane);
    let greedy = lanes[lane].done != 0u;
    var bits = 0u;
    for (var b = 0u; b < 32u; b++) {
        let i = word * 32u + b;
        if (i >= V) {
            break;
        }
        var keep = false;
        if (greedy) {
            keep = (c.flags & F_GREEDY) != 0u && i == lanes[lane].argmax;
        } else {
            keep = survives(c, working(lane, i, c), i);
        }
        bits |= select(0u, 1u << b, keep);
    }
    part[lane * PART + word] = bits;
}
