//! The master's slaves, each with what can be done to it (Remove, Add again).

use leptos::prelude::*;
use pequod_api::slaves::{Slave, SlaveState};

use crate::api;
use crate::components::async_view;
use crate::live::use_live;
use crate::session::authed_resource;

use super::{Wizard, open_button};

#[component]
pub(super) fn MasterSlaves(active: RwSignal<Option<Wizard>>) -> impl IntoView {
    let live = use_live();
    let slaves = authed_resource(move |token| {
        live.jobs.track();
        live.cluster.track();
        async move { api::slaves(&token).await }
    });
    view! {
        <h3>"Slave"</h3>
        {async_view(slaves, move |slaves| slaves_view(slaves, active))}
    }
}

fn slaves_view(slaves: Vec<Slave>, active: RwSignal<Option<Wizard>>) -> impl IntoView {
    let has_active = slaves.iter().any(|s| s.state == SlaveState::Active);
    let rows = slaves
        .into_iter()
        .map(|slave| {
            let hostname = slave.hostname.to_string();
            let (state, action) = match slave.state {
                SlaveState::Active => (
                    "active",
                    view! {
                        <button type="button" id=format!("remove-{hostname}") class="danger"
                            on:click={
                                let hostname = hostname.clone();
                                move |_| active.set(Some(Wizard::Remove(hostname.clone())))
                            }>
                            "Remove"
                        </button>
                    }
                    .into_any(),
                ),
                SlaveState::Removed => (
                    "removed (cached)",
                    (!has_active)
                        .then(|| {
                            let hostname = hostname.clone();
                            view! {
                                <button type="button" id=format!("readd-{hostname}")
                                    on:click=move |_| active.set(Some(Wizard::AddAgain(hostname.clone())))>
                                    "Add again"
                                </button>
                            }
                        })
                        .into_any(),
                ),
            };
            view! {
                <tr data-slave=hostname.clone()>
                    <td data-label="Host name"><strong>{hostname.clone()}</strong></td>
                    <td data-label="Telephony IP">{slave.telephony_ip}</td>
                    <td data-label="Sync IP">{slave.sync_ip}</td>
                    <td data-label="State" class="slave-state">{state}</td>
                    <td data-label="">{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table" id="slaves">
                <thead><tr><th>"Host name"</th><th>"Telephony IP"</th><th>"Sync IP"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <div class="button-row">
            {(!has_active).then(|| open_button("open-add-slave", "Add slave", Wizard::AddSlave, active))}
            {has_active.then(|| open_button("open-failover", "Manual failover", Wizard::Failover, active))}
        </div>
    }
}
