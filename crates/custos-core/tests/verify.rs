//! Tamper tests for the pure verifier: every kind of fault is caught at the right seq.

use custos_core::chain::{chain_hash, Digest};
use custos_core::*;
use proptest::prelude::*;

/// A chained log of `n` events: `(seq, record, stored hash)`.
fn log(n: u64) -> Vec<(Seq, Vec<u8>, Digest)> {
    let mut prev = Digest::GENESIS;
    (1..=n)
        .map(|i| {
            let tenant = TenantId::new(format!("tenant-{i:04}")).expect("tenant");
            let e = NewEvent::new(
                EventId(u128::from(i)),
                PrincipalId::new("staff:ana").expect("p"),
                Payload::OnboardingOpened { tenant },
            )
            .place(
                Seq(i),
                StreamId::new("s").expect("s"),
                i,
                Timestamp::from_secs(i as i64),
            );
            let record = codec::encode(&e).expect("encode");
            prev = chain_hash(&prev, &record);
            (Seq(i), record, prev)
        })
        .collect()
}

fn run(log: &[(Seq, Vec<u8>, Digest)], known: Option<Head>) -> Result<Head, VerifyError> {
    verify::verify(
        log.iter().map(|(s, r, h)| (*s, r.as_slice(), Some(*h))),
        known,
    )
}

fn head_of(log: &[(Seq, Vec<u8>, Digest)]) -> Head {
    let (seq, _, hash) = log.last().expect("non-empty");
    Head {
        seq: *seq,
        hash: *hash,
    }
}

/// Recomputes every stored hash from `from` on, as a forger with write access would.
fn rechain(log: &mut [(Seq, Vec<u8>, Digest)]) {
    let mut prev = Digest::GENESIS;
    for (_, record, hash) in log.iter_mut() {
        *hash = chain_hash(&prev, record);
        prev = *hash;
    }
}

#[test]
fn an_intact_log_verifies_to_its_head() {
    let l = log(50);
    assert_eq!(run(&l, None), Ok(head_of(&l)));
    assert_eq!(run(&l, Some(head_of(&l))), Ok(head_of(&l)));
    assert_eq!(run(&[], None), Ok(Head::GENESIS));
}

#[test]
fn a_flipped_byte_is_a_hash_mismatch_at_its_seq() {
    let mut l = log(20);
    let last = l[6].1.len() - 1; // inside the tenant name at the end of the record
    l[6].1[last] ^= 0x01;
    let err = run(&l, None).expect_err("tampered");
    assert_eq!(err.seq, Seq(7));
    assert_eq!(err.fault.kind(), "hash_mismatch");
}

#[test]
fn a_dropped_event_is_a_gap() {
    let mut l = log(20);
    l.remove(9);
    let err = run(&l, None).expect_err("gap");
    assert_eq!(err.seq, Seq(10));
    assert_eq!(err.fault, Fault::Gap { found: Seq(11) });
}

#[test]
fn swapped_records_are_a_reorder() {
    // Swapped contents under the same keys (as in a key-value store).
    let mut l = log(20);
    let (a, b) = (l[4].1.clone(), l[5].1.clone());
    l[4].1 = b;
    l[5].1 = a;
    let err = run(&l, None).expect_err("reorder");
    assert_eq!(err.seq, Seq(5));
    assert_eq!(err.fault, Fault::Reorder { found: Seq(6) });
    // Swapped lines (as in an export): a lower seq after a higher one.
    let mut l = log(20);
    l.swap(4, 5);
    let err = run(&l, None).expect_err("gap then reorder");
    assert_eq!(err.seq, Seq(5));
}

#[test]
fn truncation_is_caught_only_against_a_known_head() {
    let full = log(20);
    let known = head_of(&full);
    let cut = &full[..15];
    assert_eq!(
        run(cut, None),
        Ok(head_of(cut)),
        "no anchor: a prefix is valid"
    );
    let err = run(cut, Some(known)).expect_err("truncated");
    assert_eq!(err.seq, Seq(16));
    assert_eq!(
        err.fault,
        Fault::Truncated {
            last: Seq(15),
            known: Seq(20)
        }
    );
}

#[test]
fn a_forged_hash_is_caught() {
    let mut l = log(20);
    l[11].2 = Digest([7; 32]);
    let err = run(&l, None).expect_err("forged");
    assert_eq!(err.seq, Seq(12));
    assert_eq!(err.fault.kind(), "hash_mismatch");
}

#[test]
fn a_rewritten_chain_is_caught_by_a_known_head() {
    let original = log(20);
    let known = Head {
        seq: Seq(15),
        hash: original[14].2,
    };
    let mut forged = original.clone();
    let last = forged[9].1.len() - 1;
    forged[9].1[last] ^= 0x01;
    rechain(&mut forged);
    assert!(
        run(&forged, None).is_ok(),
        "a full rewrite is self-consistent"
    );
    let err = run(&forged, Some(known)).expect_err("anchor");
    assert_eq!(err.seq, Seq(15));
    assert_eq!(err.fault.kind(), "head_mismatch");
}

#[test]
fn undecodable_bytes_are_named() {
    let mut l = log(5);
    l[2].1.truncate(4);
    rechain(&mut l);
    let err = run(&l, None).expect_err("undecodable");
    assert_eq!(err.seq, Seq(3));
    assert_eq!(err.fault.kind(), "undecodable");
}

#[test]
fn a_verifier_resumes_from_a_trusted_point() {
    let l = log(30);
    let mid = Head {
        seq: Seq(10),
        hash: l[9].2,
    };
    let mut v = ChainVerifier::resume(mid);
    for (s, r, h) in &l[10..] {
        v.push(*s, r, Some(h)).expect("verifies");
    }
    assert_eq!(v.finish(), Ok(head_of(&l)));
    let mut wrong = ChainVerifier::resume(Head {
        seq: Seq(10),
        hash: Digest([1; 32]),
    });
    let err = wrong
        .push(l[10].0, &l[10].1, Some(&l[10].2))
        .expect_err("wrong start");
    assert_eq!(err.seq, Seq(11));
}

proptest! {
    /// Flipping any bit of any record is caught at that record's seq.
    #[test]
    fn any_flipped_bit_is_caught_where_it_is(idx in 0usize..40, byte in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut l = log(40);
        let b = byte.index(l[idx].1.len());
        l[idx].1[b] ^= 1 << bit;
        let err = run(&l, None).expect_err("tampered");
        prop_assert_eq!(err.seq, Seq(idx as u64 + 1));
    }
}
