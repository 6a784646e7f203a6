//! The stored formats of the index's values: postings, stream tables and id tables
//! (docs/design.md, §3), their encoders and the searches in one stored value.

use custos_core::{EventId, Seq};

use crate::keys;

/// Posting lists: delta-varint seqs.
pub mod postings {
    /// Appends `n` as LEB128.
    pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    /// Reads one LEB128 value.
    pub fn get_varint(buf: &mut &[u8]) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    /// Encodes ascending seqs.
    pub fn encode(seqs: &[u64], out: &mut Vec<u8>) {
        put_varint(out, seqs.len() as u64);
        let mut prev = 0;
        for s in seqs {
            put_varint(out, s - prev);
            prev = *s;
        }
    }

    /// Decodes what [`encode`] wrote, leaving `buf` after it.
    pub fn decode_from(buf: &mut &[u8]) -> Option<Vec<u64>> {
        let n = get_varint(buf)?;
        let mut out = Vec::with_capacity(n.min(1 << 20) as usize);
        let mut prev = 0u64;
        for _ in 0..n {
            prev = prev.checked_add(get_varint(buf)?)?;
            out.push(prev);
        }
        Some(out)
    }

    /// Decodes a whole value.
    pub fn decode(mut buf: &[u8]) -> Option<Vec<u64>> {
        decode_from(&mut buf)
    }
}

/// A sorted table of streams: `count:u32be ‖ offset:u32be × count ‖ entries`, each entry
/// `len:u8 ‖ name ‖ first_version:varint ‖ postings`, offsets relative to the entries.
pub mod stream_table {
    use custos_core::StreamId;

    use super::postings;

    /// Encodes streams sorted by name.
    pub fn encode(streams: &[(&StreamId, &(u64, Vec<u64>))]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut offsets = Vec::with_capacity(streams.len());
        for (name, (first, seqs)) in streams {
            offsets.push(entries.len() as u32);
            entries.push(name.as_str().len() as u8);
            entries.extend_from_slice(name.as_str().as_bytes());
            postings::put_varint(&mut entries, *first);
            postings::encode(seqs, &mut entries);
        }
        let mut out = Vec::with_capacity(4 + 4 * offsets.len() + entries.len());
        out.extend_from_slice(&(offsets.len() as u32).to_be_bytes());
        for o in offsets {
            out.extend_from_slice(&o.to_be_bytes());
        }
        out.extend_from_slice(&entries);
        out
    }

    fn count(table: &[u8]) -> usize {
        table
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, |b| u32::from_be_bytes(b) as usize)
    }

    /// The entry at index `i`: its name and the rest of the table after the name.
    fn entry(table: &[u8], i: usize) -> Option<(&[u8], &[u8])> {
        let n = count(table);
        let base = 4 + 4 * n;
        let off = u32::from_be_bytes(table.get(4 + 4 * i..8 + 4 * i)?.try_into().ok()?) as usize;
        let at = table.get(base + off..)?;
        let (&len, rest) = at.split_first()?;
        let name = rest.get(..len as usize)?;
        Some((name, &rest[len as usize..]))
    }

    /// Every stream name in the table.
    pub fn names(table: &[u8]) -> impl Iterator<Item = &[u8]> {
        (0..count(table)).filter_map(move |i| entry(table, i).map(|(n, _)| n))
    }

    /// `(first version, seqs)` of `name`, by binary search.
    pub fn find(table: &[u8], name: &str) -> Option<(u64, Vec<u64>)> {
        let (mut lo, mut hi) = (0usize, count(table));
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (n, mut rest) = entry(table, mid)?;
            match n.cmp(name.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let first = postings::get_varint(&mut rest)?;
                    return Some((first, postings::decode_from(&mut rest)?));
                }
            }
        }
        None
    }
}

/// Binary search of a stored id table.
pub fn find_in_id_table(table: &[u8], id: EventId) -> Option<Seq> {
    let n = table.len() / 24;
    let want = id.to_bytes();
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let entry = &table[mid * 24..mid * 24 + 24];
        match entry[..16].cmp(&want[..]) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return keys::trailing_u64(entry).map(Seq),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::StreamId;

    #[test]
    fn postings_round_trip() {
        let seqs = [1, 2, 300, 70_000, 1 << 40];
        let mut buf = Vec::new();
        postings::encode(&seqs, &mut buf);
        assert_eq!(postings::decode(&buf), Some(seqs.to_vec()));
        assert_eq!(postings::decode(&buf[..buf.len() - 1]), None);
    }

    #[test]
    fn id_tables_are_searched() {
        let mut ids: Vec<(EventId, Seq)> = (0..1000u64)
            .map(|i| (EventId(u128::from(i) * 31 % 1009), Seq(i + 1)))
            .collect();
        ids.sort_unstable();
        let mut table = Vec::new();
        for (id, seq) in &ids {
            table.extend_from_slice(&id.to_bytes());
            table.extend_from_slice(&seq.0.to_be_bytes());
        }
        for (id, seq) in &ids {
            assert_eq!(find_in_id_table(&table, *id), Some(*seq));
        }
        assert_eq!(find_in_id_table(&table, EventId(5000)), None);
    }

    #[test]
    fn stream_tables_are_searched() {
        let names: Vec<StreamId> = (0..300)
            .map(|i| StreamId::new(format!("grant:{i:05}")).expect("name"))
            .collect();
        let data: Vec<(u64, Vec<u64>)> = (0..300u64)
            .map(|i| (i + 1, vec![i * 10, i * 10 + 3]))
            .collect();
        let pairs: Vec<(&StreamId, &(u64, Vec<u64>))> = names.iter().zip(data.iter()).collect();
        let table = stream_table::encode(&pairs);
        for (name, d) in &pairs {
            assert_eq!(stream_table::find(&table, name.as_str()).as_ref(), Some(*d));
        }
        assert_eq!(stream_table::find(&table, "grant:99999"), None);
        assert_eq!(stream_table::names(&table).count(), 300);
    }
}
