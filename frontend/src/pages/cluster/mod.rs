//! Appliance › Cluster Management: the cluster as this node sees it and the seed's
//! wizards — Configure master, Prepare slave, Add slave, Remove, Add again, Manual
//! failover — each only where this node's role allows it. A wizard is a form checked
//! field by field (the API's own rules), a confirmation where the seed warns, then its
//! job followed live until it ends.
//!
//! `status` shows the cluster, `slaves` the master's slave list, `wizards` the forms.

mod slaves;
mod status;
mod wizards;

use leptos::prelude::*;
use pequod_api::cluster::Role;
use pequod_api::nodes::Node;

use crate::api;
use crate::components::{CopyButton, async_view};
use crate::live::use_live;
use crate::session::authed_resource;

use status::status_view;
use wizards::wizard_view;

/// The seed's warning before a master is configured.
pub const ACTIVATION_WARNING: &str = "The services and network configurations cannot easily be changed after the cluster is activated.";
/// The seed's warning before a manual failover.
pub const FAILOVER_WARNING: &str = "All active calls will be interrupted.";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Wizard {
    ConfigureMaster,
    PrepareSlave,
    AddSlave,
    Remove(String),
    AddAgain(String),
    Failover,
}

#[component]
pub fn ClusterManagement() -> impl IntoView {
    let live = use_live();
    let cluster = authed_resource(move |token| {
        live.cluster.track();
        live.jobs.track();
        async move { api::cluster(&token).await }
    });
    let node = authed_resource(move |token| {
        live.cluster.track();
        async move { api::node_self(&token).await }
    });
    let active = RwSignal::new(None::<Wizard>);
    view! {
        <section class="page" id="page-cluster">
            <h1>"Cluster Management"</h1>
            <div class="card" id="cluster-status">
                <h2>"Cluster status"</h2>
                {async_view(cluster, move |c| status_view(c, active))}
            </div>
            {move || active.get().map(|wizard| wizard_view(wizard, active))}
            <div class="card" id="this-node">
                <h2>"This node"</h2>
                {async_view(node, own_node_view)}
            </div>
        </section>
    }
}

fn own_node_view(node: Node) -> impl IntoView {
    let hint = match node.role {
        Role::Master => {
            "Copy this key before preparing the slave: Prepare slave on the other node asks for it."
        }
        _ => "The master's key is pasted on the slave; this one is this node's own.",
    };
    view! {
        <dl class="facts">
            <dt>"Host name"</dt>
            <dd id="own-hostname">{node.hostname.to_string()}</dd>
            <dt>"Role"</dt>
            <dd id="own-role">{node.role.as_str()}</dd>
        </dl>
        <div class="node-key">
            <span class="label" id="own-key-label">"SSH public key of this node"</span>
            <code id="own-key" class="ssh-key" aria-labelledby="own-key-label">{node.public_key.clone()}</code>
            <CopyButton text=node.public_key target_id="own-key"/>
            <p class="hint">{hint}</p>
        </div>
    }
}

fn open_button(
    id: &'static str,
    label: &'static str,
    wizard: Wizard,
    active: RwSignal<Option<Wizard>>,
) -> impl IntoView {
    view! {
        <button type="button" id=id on:click=move |_| active.set(Some(wizard.clone()))>{label}</button>
    }
}
