//! Bit-packing of proof indices: each index takes ⌊log2(total_labels)⌋ + 1 bits, LSB first.

/// Bits needed to write `value` (0 for 0).
pub fn required_bits(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        value.ilog2() as usize + 1
    }
}

/// Bytes that `k2` indices of `bits` bits take: ⌈k2·bits/8⌉.
pub fn indices_bytes(bits: usize, k2: u32) -> usize {
    (bits * k2 as usize).div_ceil(8)
}

/// Packs the low `bits` bits of each index, least significant bit first, into bytes.
pub fn pack_indices(indices: &[u64], bits: usize) -> Vec<u8> {
    let bits = bits.min(64);
    let mut out = vec![0u8; (indices.len() * bits).div_ceil(8)];
    let mut pos = 0usize;
    for &index in indices {
        for b in 0..bits {
            if (index >> b) & 1 == 1 {
                out[pos / 8] |= 1 << (pos % 8);
            }
            pos += 1;
        }
    }
    out
}

/// Unpacks as many whole `bits`-bit indices as `bytes` holds (none for `bits` = 0).
pub fn unpack_indices(bytes: &[u8], bits: usize) -> Vec<u64> {
    if bits == 0 || bits > 64 {
        return Vec::new();
    }
    let count = bytes.len() * 8 / bits;
    let mut out = Vec::with_capacity(count);
    let mut pos = 0usize;
    for _ in 0..count {
        let mut v = 0u64;
        for b in 0..bits {
            if (bytes[pos / 8] >> (pos % 8)) & 1 == 1 {
                v |= 1 << b;
            }
            pos += 1;
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let values = [0u64, 1, 2, 5, 1023, 77, 512, 1000];
        for bits in 10..=64 {
            let packed = pack_indices(&values, bits);
            assert_eq!(packed.len(), indices_bytes(bits, values.len() as u32));
            assert_eq!(unpack_indices(&packed, bits), values);
        }
        let wide = [u64::MAX, 0, 1 << 63];
        assert_eq!(unpack_indices(&pack_indices(&wide, 64), 64), wide);
    }

    #[test]
    fn mainnet_sizes() {
        for (units, bytes) in [(1u64, 153), (4, 162), (16, 172)] {
            assert_eq!(indices_bytes(required_bits(units << 32), 37), bytes);
        }
    }
}
