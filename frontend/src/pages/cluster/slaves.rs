//! The master's slaves, each with what can be done to it (Remove, Add again).

use leptos::prelude::*;
use pequod_api::slaves::{Slave, SlaveState};
use pequod_api::users::Role;

use crate::api;
use crate::components::{RoleNote, async_view};
use crate::live::use_live;
use crate::session::{authed_resource, use_access};

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
    let access = use_access();
    let operator = move || access.allows(Role::Operator);
    let has_active = slaves.iter().any(|s| s.state == SlaveState::Active);
    let rows = slaves
        .into_iter()
        .map(|slave| {
            let hostname = slave.hostname.to_string();
            let (state, action) = match slave.state {
                SlaveState::Active => (
                    "active",
                    {
                        let hostname = hostname.clone();
                        move || operator().then(|| {
                            let hostname = hostname.clone();
                            view! {
                                <button type="button" id=format!("remove-{hostname}") class="danger"
                                    on:click=move |_| active.set(Some(Wizard::Remove(hostname.clone())))>
                                    "Remove"
                                </button>
                            }
                        })
                    }
                    .into_any(),
                ),
                SlaveState::Removed => (
                    "removed (cached)",
                    {
                        let hostname = hostname.clone();
                        move || (operator() && !has_active).then(|| {
                            let hostname = hostname.clone();
                            view! {
                                <button type="button" id=format!("readd-{hostname}")
                                    on:click=move |_| active.set(Some(Wizard::AddAgain(hostname.clone())))>
                                    "Add again"
                                </button>
                            }
                        })
                    }
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
        {move || operator().then(|| view! {
            <div class="button-row">
                {(!has_active).then(|| open_button("open-add-slave", "Add slave", Wizard::AddSlave, active))}
                {has_active.then(|| open_button("open-failover", "Manual failover", Wizard::Failover, active))}
            </div>
        })}
        <RoleNote
            needed=Role::Operator
            id="cm-operator-only"
            text="Only an operator or an admin can add, remove or fail over the slave."
        />
    }
}
