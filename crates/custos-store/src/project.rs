//! Projections at a point of the log: the whole access projection from the nearest
//! snapshot, one tenant's part of it from the tenant index alone, or one principal's
//! accounts' part through the subject and tenant indexes.

use custos_core::access::Access;
use std::collections::BTreeSet;

use custos_core::{codec, PrincipalId, Seq, TenantId};

use crate::store::{IndexFilter, Store};
use crate::ReadError;

impl Store {
    /// The access projection with every event up to `last` (at most the head) folded
    /// in, starting from the latest valid snapshot at or before `last`.
    pub fn access_at(&self, last: Seq) -> Result<Access, ReadError> {
        let last = last.min(self.head().seq);
        let (mut access, from) = match self.snapshot_at_or_before(last)? {
            Some((at, bytes)) => match codec::decode_snapshot::<Access>(&bytes) {
                Ok(access) => (access, at.seq.next()),
                // Written by an older custos: an optimisation only, so fold from the log.
                Err(codec::CodecError::UnknownFormat(v)) => {
                    tracing::warn!(seq = %at.seq, format = v, "ignoring a snapshot of an older format; run `custos snapshot` again");
                    (Access::default(), Seq(1))
                }
                Err(e) => {
                    return Err(ReadError::Corrupt {
                        seq: at.seq,
                        reason: format!("snapshot: {e}"),
                    })
                }
            },
            None => (Access::default(), Seq(1)),
        };
        self.replay(from, last, |event| access.apply(event))?;
        Ok(access)
    }

    /// The projection of only the events that name `tenant`, up to `last`: the tenant's
    /// latest checkpoint at or before `last` (`crate::checkpoints`, kept in rounds about
    /// every 1M events), then its events after that, read through the tenant index. Its [`Access::tenant`] answer for `tenant` is the whole projection's: every
    /// event about a tenant's members, onboarding, grants, invitations, consents and
    /// sessions names the tenant (the policy takes it from the item), and that answer
    /// reads nothing else. It costs one checkpoint and the tenant's events since, not the
    /// log's: the query plan for "who could enter account X on date D".
    pub fn tenant_access_at(&self, tenant: &TenantId, last: Seq) -> Result<Access, ReadError> {
        let last = last.min(self.head().seq);
        let seqs = self.tenant_seqs(tenant, last)?;
        let ends: Vec<Seq> = self.index().rounds.clone();
        let end = crate::checkpoints::latest_end(&seqs, last, |s| {
            ends.get(ends.partition_point(|e| *e < s)).copied()
        });
        let kept = match end {
            Some(end) => crate::checkpoints::state_at(self.index_tree(), tenant, end, |seq| {
                self.hash_at(seq)
            })?
            .map(|state| (end, state)),
            None => None,
        };
        let (after, access) = kept.unwrap_or((Seq::ZERO, Access::default()));
        self.fold(access, seqs.into_iter().filter(|s| *s > after))
    }

    /// The same projection folded from seq 1, without checkpoints: what
    /// [`Store::tenant_access_at`] must equal (tests and benchmarks compare them).
    #[doc(hidden)]
    pub fn tenant_access_folded(&self, tenant: &TenantId, last: Seq) -> Result<Access, ReadError> {
        let seqs = self.tenant_seqs(tenant, last)?;
        self.fold(Access::default(), seqs)
    }

    /// The seqs of `tenant`'s events up to `last`, from the tenant index.
    fn tenant_seqs(&self, tenant: &TenantId, last: Seq) -> Result<Vec<Seq>, ReadError> {
        self.index_seqs(
            &IndexFilter::Tenant(tenant.clone()),
            Seq(1),
            last,
            usize::MAX,
        )
    }

    /// `access` with the events at `seqs` folded in, in order.
    fn fold(
        &self,
        mut access: Access,
        seqs: impl IntoIterator<Item = Seq>,
    ) -> Result<Access, ReadError> {
        for seq in seqs {
            access.apply(&self.event_at(seq)?);
        }
        Ok(access)
    }

    /// The projection of only the events of the accounts `principal` is a subject of
    /// (`Payload::subjects`: named as admin, initial support, user, grantee or invitee),
    /// up to `last`, read through the subject and tenant indexes. Its
    /// [`Access::access_list`] answer for `principal` is the whole projection's: every
    /// right of a principal in an account rests on an event naming it as a subject there,
    /// and the events that change that right (approval, expiry, revocation, extension,
    /// acceptance…) name the account. It costs those accounts' events, not the log's: the
    /// query plan for "which accounts could P enter on date D".
    pub fn principal_access_at(
        &self,
        principal: &PrincipalId,
        last: Seq,
    ) -> Result<Access, ReadError> {
        let named = self.index_seqs(
            &IndexFilter::Subject(principal.clone()),
            Seq(1),
            last,
            usize::MAX,
        )?;
        let mut tenants = BTreeSet::new();
        for seq in named {
            if let Some(t) = self.event_at(seq)?.payload.tenant() {
                tenants.insert(t.clone());
            }
        }
        let mut seqs = Vec::new();
        for t in tenants {
            seqs.extend(self.tenant_seqs(&t, last)?);
        }
        seqs.sort_unstable();
        seqs.dedup();
        self.fold(Access::default(), seqs)
    }

    /// The event at `seq`, which an index listed.
    fn event_at(&self, seq: Seq) -> Result<custos_core::Event, ReadError> {
        let stored = self.get(seq)?.ok_or_else(|| ReadError::Corrupt {
            seq,
            reason: "indexed but missing from the log".into(),
        })?;
        stored.event()
    }
}
