//! Appliance › Network interfaces: what the kernel of this node reports.

use leptos::prelude::*;
use pequod_api::nodes::Interface;

use crate::api;
use crate::components::async_view;
use crate::format::{address_label, link_state, link_state_class};
use crate::session::authed_resource;

#[component]
pub fn Interfaces() -> impl IntoView {
    let interfaces = authed_resource(|token| async move { api::interfaces(&token).await });
    view! {
        <section class="page" id="page-interfaces">
            <h1>"Network interfaces"</h1>
            <div class="card">
                <div class="card-actions">
                    <button type="button" id="interfaces-refresh" on:click=move |_| interfaces.refetch()>
                        "Refresh"
                    </button>
                </div>
                {async_view(interfaces, interfaces_view)}
            </div>
        </section>
    }
}

fn interfaces_view(interfaces: Vec<Interface>) -> impl IntoView {
    if interfaces.is_empty() {
        return view! { <p class="empty">"No network interfaces reported."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table id="interfaces" class="table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"State"</th>
                        <th>"MAC"</th>
                        <th>"MTU"</th>
                        <th>"Addresses"</th>
                    </tr>
                </thead>
                <tbody>{interfaces.into_iter().map(interface_row).collect_view()}</tbody>
            </table>
        </div>
    }
    .into_any()
}

fn interface_row(interface: Interface) -> impl IntoView {
    let addresses = if interface.addresses.is_empty() {
        view! { <span class="muted">"none"</span> }.into_any()
    } else {
        view! {
            <ul class="addresses">
                {interface
                    .addresses
                    .iter()
                    .map(|a| view! { <li><code>{address_label(a)}</code></li> })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    let name = interface.name;
    let row_name = name.clone();
    view! {
        <tr data-interface=row_name>
            <td data-label="Name">
                <strong>{name}</strong>
                {interface.loopback.then(|| view! { <span class="muted">" (loopback)"</span> })}
            </td>
            <td data-label="State">
                <span class=format!("state {}", link_state_class(interface.up, interface.running))>
                    {link_state(interface.up, interface.running)}
                </span>
            </td>
            <td data-label="MAC"><code>{interface.mac.unwrap_or_else(|| "—".to_owned())}</code></td>
            <td data-label="MTU">{interface.mtu.map_or_else(|| "—".to_owned(), |m| m.to_string())}</td>
            <td data-label="Addresses">{addresses}</td>
        </tr>
    }
}
