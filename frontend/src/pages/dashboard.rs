//! The dashboard: the cluster as this node sees it, the status lamp with its reasons,
//! every known node with role, addresses, links, epoch, heartbeat and SSH key, and the
//! data sync to the slave (database replication, file mirror). Follows the event
//! stream; a slow refresh also keeps the heartbeat times and the sync state current.

use std::time::Duration;

use leptos::prelude::*;
use pequod_api::cluster::{Cluster, ClusterMode, GatewayState, Timing};
use pequod_api::nodes::Node;
use pequod_api::sync::{DatabaseSync, FileSyncStatus, SyncStatus};

use crate::api;
use crate::components::{CopyButton, async_view};
use crate::format::{
    NOT_MANAGED, cluster_ip_label, commit_label, comparison_label, database_role_label,
    file_direction_label, file_pass_label, lag_label, lamp_class, lamp_label, link_label,
    mode_label, optional_timestamp, retry_label, timestamp, yes_no,
};
use crate::live::use_live;
use crate::session::authed_resource;

/// Heartbeats and the sync state are not events (ten a second, and a lag that moves
/// with every commit); they are refreshed this often.
const REFRESH: Duration = Duration::from_secs(5);

#[component]
pub fn Dashboard() -> impl IntoView {
    let live = use_live();
    let cluster = authed_resource(move |token| {
        live.track_all();
        async move { api::cluster(&token).await }
    });
    let nodes = authed_resource(move |token| {
        live.cluster.track();
        live.jobs.track();
        async move { api::nodes(&token).await }
    });
    // A role change, a finished job (Add slave, a failover) or a sync check's new state
    // all mean the sync has moved on.
    let sync = authed_resource(move |token| {
        live.track_all();
        async move { api::sync(&token).await }
    });

    if let Ok(handle) = set_interval_with_handle(
        move || {
            cluster.refetch();
            nodes.refetch();
            sync.refetch();
        },
        REFRESH,
    ) {
        on_cleanup(move || handle.clear());
    }

    view! {
        <section class="page" id="page-dashboard">
            <h1>"Dashboard"</h1>
            <div class="card" id="cluster">
                <h2>"Cluster"</h2>
                {async_view(cluster, cluster_view)}
            </div>
            <div class="card" id="nodes">
                <h2>"Nodes"</h2>
                {async_view(nodes, nodes_view)}
            </div>
            <div class="card" id="sync">
                <h2>"Data sync"</h2>
                {async_view(sync, sync_view)}
            </div>
        </section>
    }
}

/// What the gateway probe means to a person, and whether it deserves a visible note.
pub fn gateway_label(state: GatewayState) -> (&'static str, &'static str) {
    match state {
        GatewayState::Reachable => ("reachable", "state state-ok"),
        GatewayState::Unreachable => ("unreachable", "state state-bad"),
        GatewayState::Unknown => ("not probed yet", "state state-off"),
        GatewayState::NotConfigured => (
            "no gateway configured: the telephony network is not checked",
            "state state-warn",
        ),
    }
}

/// The profile and its figures, e.g. "conservative: a heartbeat every 100 ms, the peer
/// dead after 600 ms of silence".
fn timing_label(timing: &Timing) -> String {
    format!(
        "{}{}: a heartbeat every {} ms, the peer dead after {} ms of silence",
        timing.profile.as_str(),
        if timing.overridden() {
            " (figures set by hand)"
        } else {
            ""
        },
        timing.heartbeat_interval_ms,
        timing.dead_after_ms
    )
}

fn cluster_view(cluster: Cluster) -> impl IntoView {
    let lamp = cluster.lamp;
    let gateway = (cluster.mode == ClusterMode::Cluster).then(|| {
        let (label, class) = gateway_label(cluster.telephony_gateway);
        view! {
            <dt>"Telephony gateway"</dt>
            <dd id="cluster-gateway" class=class>{label}</dd>
            <dt>"Heartbeat timing"</dt>
            <dd id="cluster-timing">{timing_label(&cluster.timing)}</dd>
        }
    });
    let reasons = if cluster.lamp_reasons.is_empty() {
        vec!["No problems reported.".to_owned()]
    } else {
        cluster.lamp_reasons
    };
    view! {
        <div class="lamp-row">
            <span
                id="lamp"
                class=format!("lamp {}", lamp_class(lamp))
                role="img"
                aria-label=format!("status lamp: {}", lamp_label(lamp))
                title=lamp_label(lamp)
            ></span>
            <ul class="lamp-reasons" id="lamp-reasons">
                {reasons.into_iter().map(|reason| view! { <li>{reason}</li> }).collect_view()}
            </ul>
        </div>
        <dl class="facts">
            <dt>"Mode"</dt>
            <dd id="cluster-mode">{mode_label(cluster.mode)}</dd>
            <dt>"This node's role"</dt>
            <dd id="cluster-role">{cluster.role.as_str()}</dd>
            <dt>"Epoch"</dt>
            <dd id="cluster-epoch">{cluster.epoch}</dd>
            <dt>"Cluster IP"</dt>
            <dd id="cluster-ip">{cluster_ip_label(cluster.cluster_ip.as_deref()).to_owned()}</dd>
            <dt>"Cluster IP held by"</dt>
            <dd id="cluster-vip-holder">{cluster.vip_holder.unwrap_or_else(|| "nobody".to_owned())}</dd>
            {gateway}
        </dl>
    }
}

fn nodes_view(nodes: Vec<Node>) -> impl IntoView {
    if nodes.is_empty() {
        return view! { <p class="empty">"No nodes known."</p> }.into_any();
    }
    view! {
        <ul class="node-list">
            {nodes.into_iter().map(node_view).collect_view()}
        </ul>
    }
    .into_any()
}

fn node_view(node: Node) -> impl IntoView {
    let key_id = format!("node-key-{}", node.id);
    let heartbeat = match (node.is_self, node.last_heartbeat) {
        (true, _) => "this node".to_owned(),
        (false, Some(at)) => format!("last heartbeat {}", timestamp(&at)),
        (false, None) => "no heartbeat yet".to_owned(),
    };
    let links = node.links;
    let link = move |up: Option<bool>| {
        let class = match up {
            Some(true) => "state state-ok",
            Some(false) => "state state-bad",
            None => "state state-off",
        };
        view! { <span class=class>{link_label(up)}</span> }
    };
    let (telephony_link, cluster_link) = if node.is_self {
        (None, None)
    } else {
        (links.map(|l| l.telephony), links.map(|l| l.cluster))
    };
    view! {
        <li class="node" class:node-self=node.is_self data-hostname=node.hostname.to_string() data-role=node.role.as_str()>
            <div class="node-head">
                <strong class="node-hostname">{node.hostname.to_string()}</strong>
                <span class=format!("badge node-role role-{}", node.role.as_str())>{node.role.as_str()}</span>
                {node.holds_vip.then(|| view! { <span class="badge badge-vip">"holds the cluster IP"</span> })}
                <span class="node-version">"pequod " {node.version}</span>
                <span class="node-heartbeat">{heartbeat}</span>
            </div>
            <dl class="facts node-facts">
                <dt>"Telephony IP"</dt>
                <dd class="node-telephony-ip">{node.telephony_ip.unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>"Sync IP"</dt>
                <dd class="node-sync-ip">{node.sync_ip.unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>"Epoch"</dt>
                <dd class="node-epoch">{node.epoch}</dd>
                {(!node.is_self).then(|| view! {
                    <dt>"Telephony link"</dt>
                    <dd class="node-link-telephony">{link(telephony_link)}</dd>
                    <dt>"Cluster link"</dt>
                    <dd class="node-link-cluster">{link(cluster_link)}</dd>
                })}
            </dl>
            <div class="node-key">
                <span class="label">"SSH public key"</span>
                <code id=key_id.clone() class="ssh-key">{node.public_key.clone()}</code>
                <CopyButton text=node.public_key target_id=key_id/>
            </div>
        </li>
    }
}

fn sync_view(status: SyncStatus) -> impl IntoView {
    view! {
        <div class="sync-part" id="sync-database">
            <h3>"Database"</h3>
            {match status.database {
                Some(database) => database_view(database).into_any(),
                None => view! { <p class="muted">{NOT_MANAGED}</p> }.into_any(),
            }}
        </div>
        <div class="sync-part" id="sync-files">
            <h3>"Files"</h3>
            {match status.files {
                Some(files) => files_view(files).into_any(),
                None => view! { <p class="muted">{NOT_MANAGED}</p> }.into_any(),
            }}
        </div>
    }
}

fn database_view(database: DatabaseSync) -> impl IntoView {
    let (commits, commits_class) = commit_label(&database);
    let lag = lag_label(database.lag_bytes, database.lag_seconds);
    view! {
        <dl class="facts">
            <dt>"Role"</dt>
            <dd id="sync-database-role">{database_role_label(database.role)}</dd>
            <dt>"Commits"</dt>
            <dd id="sync-database-commits" class=commits_class>{commits}</dd>
            {database.standby.map(|name| view! {
                <dt>"Standby"</dt>
                <dd id="sync-database-standby">{name}</dd>
            })}
            {database.standby_streaming.map(|streaming| view! {
                <dt>"Standby streaming"</dt>
                <dd
                    id="sync-database-streaming"
                    class=if streaming { "state state-ok" } else { "state state-bad" }
                >
                    {yes_no(streaming)}
                </dd>
            })}
            {lag.map(|lag| view! {
                <dt>"Lag"</dt>
                <dd id="sync-database-lag">{lag}</dd>
            })}
            <dt>"Checked"</dt>
            <dd id="sync-database-checked">{optional_timestamp(database.checked_at.as_ref())}</dd>
            {database.error.map(|error| view! {
                <dt>"Error"</dt>
                <dd id="sync-database-error" class="error-text">{error}</dd>
            })}
        </dl>
    }
}

fn files_view(files: FileSyncStatus) -> impl IntoView {
    let comparison = comparison_label(files.differing_paths.len(), files.compared_at.as_ref());
    let differ = !files.differing_paths.is_empty();
    let retry = retry_label(files.pending_retry.as_ref(), files.failed_passes);
    let retry_class = if files.pending_retry.is_some() {
        "state state-warn"
    } else {
        "state"
    };
    let last_pass = match files.last_pass {
        Some(pass) => {
            let error = pass.error.clone();
            view! {
                <span>{file_pass_label(&pass)}</span>
                {error.map(|error| view! {
                    <span class="error-text sync-pass-error">" failed: " {error}</span>
                })}
            }
            .into_any()
        }
        None => view! { <span class="muted">"none yet"</span> }.into_any(),
    };
    view! {
        <dl class="facts">
            <dt>"Direction"</dt>
            <dd id="sync-files-direction">{file_direction_label(files.direction)}</dd>
            <dt>"Paths"</dt>
            <dd id="sync-files-paths">{files.paths.join(", ")}</dd>
            <dt>"Last pass"</dt>
            <dd id="sync-files-last-pass">{last_pass}</dd>
            <dt>"Last success"</dt>
            <dd id="sync-files-last-success">{optional_timestamp(files.last_success.as_ref())}</dd>
            <dt>"Last full pass"</dt>
            <dd id="sync-files-last-full-pass">{optional_timestamp(files.last_full_pass.as_ref())}</dd>
            <dt>"Retry pending"</dt>
            <dd id="sync-files-retry" class=retry_class>{retry}</dd>
            <dt>"Master and slave"</dt>
            <dd id="sync-files-comparison" class:state-warn=differ>
                {comparison}
                {differ.then(|| view! {
                    <ul class="sync-differing" id="sync-files-differing">
                        {files.differing_paths.into_iter().map(|path| view! { <li><code>{path}</code></li> }).collect_view()}
                    </ul>
                })}
            </dd>
        </dl>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_without_a_gateway_says_the_network_is_not_checked() {
        assert_eq!(
            gateway_label(GatewayState::NotConfigured).0,
            "no gateway configured: the telephony network is not checked"
        );
        assert_eq!(gateway_label(GatewayState::Unknown).0, "not probed yet");
        assert_ne!(
            gateway_label(GatewayState::Unreachable).1,
            gateway_label(GatewayState::Reachable).1
        );
    }
}
