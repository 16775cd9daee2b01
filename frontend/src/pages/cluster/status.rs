//! The cluster as this node sees it: role, epoch, the cluster IP and its holder.

use leptos::prelude::*;
use pequod_api::cluster::{Cluster, Role};
use pequod_api::users::Role as UserRole;

use crate::components::RoleNote;
use crate::session::use_access;

use super::slaves::MasterSlaves;
use super::{Wizard, open_button};

pub(super) fn status_view(cluster: Cluster, active: RwSignal<Option<Wizard>>) -> AnyView {
    let access = use_access();
    let admin = move || access.allows(UserRole::Admin);
    let ip = cluster
        .cluster_ip
        .clone()
        .unwrap_or_else(|| "not configured".to_owned());
    let facts = view! {
        <dl class="facts">
            <dt>"This node's role"</dt>
            <dd id="cm-role">{cluster.role.as_str()}</dd>
            <dt>"Cluster IP"</dt>
            <dd id="cm-status-cluster-ip">{ip}</dd>
            <dt>"Held by"</dt>
            <dd id="cm-vip-holder">{cluster.vip_holder.clone().unwrap_or_else(|| "nobody".to_owned())}</dd>
            <dt>"Epoch"</dt>
            <dd>{cluster.epoch}</dd>
        </dl>
    };
    match cluster.role {
        Role::Standalone => view! {
            {facts}
            <p>"This node is not in a cluster. Make it the master of a new cluster, or prepare it to become the slave of an existing master."</p>
            {move || admin().then(|| view! {
                <div class="button-row">
                    {open_button("open-configure-master", "Configure master", Wizard::ConfigureMaster, active)}
                    {open_button("open-prepare-slave", "Prepare slave", Wizard::PrepareSlave, active)}
                </div>
            })}
            <RoleNote needed=UserRole::Admin id="cm-admin-only" text="Only an admin can configure a master or prepare a slave."/>
        }
        .into_any(),
        Role::Master => view! {
            {facts}
            <MasterSlaves active=active/>
        }
        .into_any(),
        Role::Slave | Role::Standby => {
            let address = cluster
                .cluster_ip
                .as_deref()
                .map(|ip| ip.split('/').next().unwrap_or(ip).to_owned());
            let link = address.clone().map(|a| cluster_ip_url(&a));
            view! {
                {facts}
                <p class="notice" id="not-master" role="note">
                    {format!("This node is {}. ", cluster.role.as_str())}
                    "Cluster changes are made on the master, at the cluster IP"
                    {match (address, link) {
                        (Some(address), Some(link)) => view! { " " <a id="cluster-ip-link" href=link>{address}</a> "." }.into_any(),
                        _ => view! { "." }.into_any(),
                    }}
                </p>
                {(cluster.role == Role::Standby).then(|| view! {
                    <p>"A standby node waits for Add again on the master. A replaced node needs the master's key first."</p>
                    {move || admin().then(|| view! {
                        <div class="button-row">
                            {open_button("open-prepare-slave", "Prepare slave", Wizard::PrepareSlave, active)}
                        </div>
                    })}
                    <RoleNote needed=UserRole::Admin id="cm-admin-only" text="Only an admin can prepare a slave."/>
                })}
            }
            .into_any()
        }
    }
}

/// The commander at the cluster IP, on the port this page came from.
fn cluster_ip_url(address: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let protocol = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .unwrap_or_else(|| "http:".to_owned());
    let port = location
        .as_ref()
        .and_then(|l| l.port().ok())
        .filter(|p| !p.is_empty())
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!("{protocol}//{address}{port}/")
}
