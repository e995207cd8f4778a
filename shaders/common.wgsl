// Shared by every kernel: which activation rows a dispatch covers.
// n: number of rows; row0: first input row (the final norm reads only the rows whose
// logits are wanted, e.g. the last prompt row, and writes them from row 0).
struct Rows {
    n: u32,
    row0: u32,
    _pad0: u32,
    _pad1: u32,
}

// Where a row sits in its sequence and where its keys and values live. Lanes share the
// prompt's KV (positions < prefix, stored at slot = position) and own the rest
// (position t ≥ prefix at slot base + t − prefix). A single sequence has prefix = ∞.
struct RowInfo {
    pos: u32,
    prefix: u32,
    base: u32,
    _pad: u32,
}

fn kv_slot(t: u32, r: RowInfo) -> u32 {
    return select(r.base + (t - r.prefix), t, t < r.prefix);
}
