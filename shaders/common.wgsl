// Shared by every kernel: which activation rows a dispatch covers.
// n: number of rows; row0: first input row (the final norm reads only the rows whose
// logits are wanted, e.g. the last prompt row, and writes them from row 0).
struct Rows {
    n: u32,
    row0: u32,
    _pad0: u32,
    _pad1: u32,
}
