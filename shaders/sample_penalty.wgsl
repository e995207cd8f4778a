// Step 1, repetition penalty, in place on the logits: invocation (j, lane) takes the j-th
// most recent token of the lane's window and applies z ← z / r if z > 0 else z · r, unless
// the same token is more recent in the window (each distinct token once, so no two
// invocations write the same logit). Both variants use this pass.

@compute @workgroup_size(64)
fn penalty(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let lane = gid.y;
    let p = u.lane[lane];
    if ((p.flags & F_PENALTY) == 0u) {
        return;
    }
    let n = min(lanes[lane].len, p.penalty_last_n);
    if (j >= n) {
        return;
    }
    let newest = lanes[lane].head + HCAP - 1u;
    let t = lanes[lane].ring[(newest - j) % HCAP];
    if (t >= V) {
        return;
    }
    for (var e = 0u; e < j; e++) {
        if (lanes[lane].ring[(newest - e) % HCAP] == t) {
            return;
        }
    }
    let z = logits[lane * V + t];
    logits[lane * V + t] = select(z * p.penalty, z / p.penalty, z > 0.0);
}
