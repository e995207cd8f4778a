"""Writes src/tokenizer/unicode_data.rs from llama.cpp's src/unicode-data.cpp.

Usage: python3 src/tokenizer/unicode_data.py LLAMA_CPP/src/unicode-data.cpp src/tokenizer/unicode_data.rs
"""
import re, sys
src = open(sys.argv[1]).read()
body = src.split('unicode_ranges_flags = {')[1].split('};')[0]
pairs = [(int(a,16), int(b,16)) for a,b in re.findall(r'\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}', body)]
ws_body = src.split('unicode_set_whitespace = {')[1].split('};')[0]
ws = [int(x,16) for x in re.findall(r'0x([0-9A-Fa-f]+)', ws_body)]
# categories only (low byte); merge runs of equal category
rng = []
for start, flags in pairs:
    if start == 0x110000: break
    cat = flags & 0xFF
    assert cat and (cat & (cat-1)) == 0, (hex(start), flags)
    if not rng or rng[-1][1] != cat:
        rng.append((start, cat))
out = []
out.append('//! llama.cpp\'s Unicode general categories (`unicode_ranges_flags` and `unicode_set_whitespace`\n'
           '//! in its src/unicode-data.cpp, llama-cpp-python 0.3.36), which its BPE pre-tokenizers\n'
           '//! split by. Generated from that file: each range\'s low flag byte (one category bit) where\n'
           '//! it changes, and the whitespace set; `cargo test` checks a few known code points.\n'
           '//! Regenerate: `python3 src/tokenizer/unicode_data.py LLAMA_CPP/src/unicode-data.cpp src/tokenizer/unicode_data.rs`.\n')
out.append('/// First code point of each range; the range ends where the next begins (the last at U+10FFFF).')
out.append('#[rustfmt::skip]')
out.append(f'pub(super) static RANGE_STARTS: [u32; {len(rng)}] = [')
for i in range(0, len(rng), 12):
    out.append('    ' + ' '.join(f'0x{s:05X},' for s,_ in rng[i:i+12]))
out.append('];\n')
out.append('/// The category flag of each range (llama.cpp\'s `unicode_cpt_flags` low byte).')
out.append('#[rustfmt::skip]')
out.append(f'pub(super) static RANGE_FLAGS: [u8; {len(rng)}] = [')
for i in range(0, len(rng), 24):
    out.append('    ' + ' '.join(f'0x{c:02X},' for _,c in rng[i:i+24]))
out.append('];\n')
out.append('/// Code points llama.cpp\'s splitters take as `\\s`.')
out.append('#[rustfmt::skip]')
out.append('pub(super) static WHITESPACE: [u32; %d] = [' % len(ws))
for i in range(0, len(ws), 10):
    out.append('    ' + ' '.join(f'0x{c:04X},' for c in ws[i:i+10]))
out.append('];')
open(sys.argv[2],'w').write('\n'.join(out)+'\n')
print(len(rng), len(ws))
