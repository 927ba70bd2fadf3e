//! The node's session with the swarm, run by every node (managers too): heartbeats to the
//! leader, following it as it moves, and certificate renewal — on schedule, at a random point
//! between 50 % and 80 % of the certificate's life, or at once when the cluster wants this node
//! in another role (promotion, demotion).

use crate::pki::ManagerChannel;
use crate::swarm::Daemon;
use flotilla_ca::Role;
use flotilla_proto::pb;
use flotilla_proto::pb::dispatcher_client::DispatcherClient;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Deadline of one heartbeat.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the session until `stop` turns true.
pub async fn run(daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) {
    let mut leader_hint: Option<String> = None;
    let mut next_candidate = 0usize;
    let mut backoff = Duration::from_millis(100);
    let mut channel = ManagerChannel::default();
    let mut renew_at = renewal_deadline(&daemon);
    loop {
        if *stop.borrow() {
            return;
        }
        let Some(tls) = daemon.tls().await else {
            return;
        };
        if SystemTime::now() >= renew_at {
            match daemon.renew_certificate().await {
                Ok(()) => renew_at = renewal_deadline(&daemon),
                Err(e) => {
                    tracing::warn!(error = %e, "certificate renewal failed; will retry");
                    renew_at = SystemTime::now() + Duration::from_secs(2);
                }
            }
        }
        let candidates = daemon.manager_addrs().await;
        let addr = match leader_hint.take() {
            Some(a) if !a.is_empty() => a,
            _ if candidates.is_empty() => {
                tracing::warn!("no manager address known; waiting");
                sleep_or_stop(&mut stop, Duration::from_secs(1)).await;
                continue;
            }
            _ => {
                next_candidate = (next_candidate + 1) % candidates.len();
                candidates[next_candidate].clone()
            }
        };
        let req = pb::HeartbeatRequest {
            addr: daemon.advertise_ip().to_string(),
            description: Some(daemon.description().into()),
        };
        let result = match channel.get(&tls, &addr) {
            Ok(ch) => {
                let mut client = DispatcherClient::new(ch);
                let mut r = tonic::Request::new(req);
                r.set_timeout(RPC_TIMEOUT);
                client.heartbeat(r).await
            }
            Err(e) => Err(tonic::Status::unavailable(e)),
        };
        match result {
            Ok(resp) => {
                backoff = Duration::from_millis(100);
                let resp = resp.into_inner();
                daemon.set_leader_hint(Some(addr.clone()));
                leader_hint = Some(addr);
                let want = if resp.role == "manager" {
                    Role::Manager
                } else {
                    Role::Worker
                };
                if want != tls.identity().role {
                    tracing::info!(role = ?want, "the swarm changed this node's role; renewing the certificate");
                    match daemon.renew_certificate().await {
                        Ok(()) => renew_at = renewal_deadline(&daemon),
                        Err(e) => {
                            tracing::warn!(error = %e, "renewal for a role change failed; will retry")
                        }
                    }
                }
                daemon.on_heartbeat(&resp).await;
                let period = Duration::from_millis(resp.period_ms.clamp(100, 60_000));
                sleep_or_stop(&mut stop, jitter(period)).await;
            }
            Err(status) => {
                // A follower names the leader; anything else moves on to the next manager.
                if status.code() == tonic::Code::FailedPrecondition {
                    leader_hint = status
                        .message()
                        .rsplit("the leader is at ")
                        .next()
                        .map(str::to_owned);
                } else {
                    channel.reset();
                    daemon.set_leader_hint(None);
                    tracing::debug!(%addr, error = %status, "heartbeat failed");
                    sleep_or_stop(&mut stop, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

fn renewal_deadline(daemon: &Daemon) -> SystemTime {
    match daemon.tls_now() {
        Some(tls) => {
            let id = tls.identity();
            let fraction = 0.5 + 0.3 * rand::random::<f64>();
            flotilla_ca::renewal_at(id.not_before, id.not_after, fraction)
        }
        None => SystemTime::now() + Duration::from_secs(3600),
    }
}

/// ±10 % around `period`, so nodes do not heartbeat in lockstep.
fn jitter(period: Duration) -> Duration {
    period.mul_f64(0.9 + 0.2 * rand::random::<f64>())
}

async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = tokio::time::sleep(d) => {}
    }
}
