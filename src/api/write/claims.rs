//! Points that use fields their receiving core did not know: their claims go to the schema
//! owners, and the refused points are dropped from the batches.

use super::stage::{conflict_text, Staged};
use crate::metrics::Reject;
use crate::runtime::{CallError, Claim, Core};
use crate::shard::batch::Batch;
use crate::shard::key;
use crate::shard::schema::{FieldClaim, Refusal};
use std::rc::Rc;

/// Sends the unsure points' claims to their schema owners and learns the answers into this
/// core's cache; returns each claim's refusal (the conflicting field's index and its type).
pub(super) async fn claim_fields(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    claims: &[FieldClaim],
) -> Result<Vec<Option<Refusal>>, CallError> {
    let mut by_owner: Vec<Vec<usize>> = vec![Vec::new(); core.cores()];
    for (i, c) in claims.iter().enumerate() {
        by_owner[key::schema_owner(db, rp, &c.measurement, core.cores())].push(i);
    }
    let mut tasks = Vec::new();
    for (owner, list) in by_owner.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let core2 = core.clone();
        let call = Claim {
            db: db.to_string(),
            rp: rp.to_string(),
            claims: list.iter().map(|&i| claims[i].clone()).collect(),
        };
        tasks.push((
            list,
            glommio::spawn_local(async move { core2.ask(owner, call).await }),
        ));
    }
    let mut refused = vec![None; claims.len()];
    for (list, task) in tasks {
        let answers = task.await?;
        let mut schema = core.schema_mut();
        for (&i, answer) in list.iter().zip(answers) {
            schema.learn_answer(db, rp, &claims[i], &answer);
            refused[i] = answer.refused;
        }
    }
    Ok(refused)
}

/// Drops the unsure points whose claims their owners refused.
pub(super) fn recheck(st: &mut Staged, claims: &[FieldClaim], refused: &[Option<Refusal>]) {
    for part in 0..st.batches.len() {
        if st.unsure_lines[part].is_empty() {
            continue;
        }
        let old = std::mem::take(&mut st.batches[part]);
        let unsure = std::mem::take(&mut st.unsure[part]);
        let mut lines = std::mem::take(&mut st.unsure_lines[part]).into_iter();
        let mut kept = Batch::default();
        for (i, p) in old.iter().enumerate() {
            let Ok(p) = p else { break };
            if unsure.get(i).copied().unwrap_or(false) {
                if let Some((at, c)) = lines.next() {
                    let refusal = refused.get(c).copied().flatten().and_then(|r| {
                        let (k, ty) = claims.get(c)?.fields.get(r.field)?;
                        Some((k, *ty, r))
                    });
                    if let Some((k, ty, r)) = refusal {
                        let at = (u8::from(!r.in_request), at);
                        st.drop_point(at, Reject::TypeConflict, || {
                            conflict_text(k, p.measurement, ty, r.existing)
                        });
                        continue;
                    }
                }
            }
            kept.push_point(&p);
        }
        old.recycle();
        st.batches[part] = kept;
    }
}
