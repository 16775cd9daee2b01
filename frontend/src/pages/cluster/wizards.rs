//! The seed's wizards: a form checked field by field, a confirmation where the seed
//! warns, then the job followed live until it ends.

use std::future::Future;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use pequod_api::jobs::JobAccepted;
use pequod_api::nodes::{Interface, Node, PrepareSlave};
use pequod_api::rules::MasterAddresses;
use pequod_api::slaves::{AddSlave, ReaddSlave, Slave};

use crate::api::{self, ApiError};
use crate::components::{CopyButton, FieldError, JobProgress, TextField, async_view};
use crate::format::address_label;
use crate::session::{Session, authed_resource, use_session};
use crate::validation::{self, FieldErrors, MasterForm};

use super::{ACTIVATION_WARNING, FAILOVER_WARNING, Wizard};

/// Where a wizard is: filling in its form, confirming, or following its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Form,
    Confirm,
    Running(i64),
}

/// The state every wizard shares.
#[derive(Clone, Copy)]
struct Flow {
    session: Session,
    phase: RwSignal<Phase>,
    errors: RwSignal<FieldErrors>,
    message: RwSignal<Option<String>>,
    pending: RwSignal<bool>,
}

impl Flow {
    fn new() -> Self {
        Self {
            session: use_session(),
            phase: RwSignal::new(Phase::Form),
            errors: RwSignal::new(FieldErrors::default()),
            message: RwSignal::new(None),
            pending: RwSignal::new(false),
        }
    }

    fn error(&self, field: &'static str) -> Signal<Option<String>> {
        let errors = self.errors;
        Signal::derive(move || errors.with(|e| e.get(field)))
    }

    /// Shows the form's own findings; true when there are none.
    fn checked(&self, errors: FieldErrors) -> bool {
        let ok = errors.is_empty();
        self.errors.set(errors);
        self.message.set(None);
        ok
    }

    /// Like [`Flow::checked`], for a rule that answers the values it accepted.
    fn passed<T>(&self, result: Result<T, FieldErrors>) -> Option<T> {
        match result {
            Ok(valid) => {
                self.checked(FieldErrors::default());
                Some(valid)
            }
            Err(errors) => {
                self.checked(errors);
                None
            }
        }
    }

    /// Sends the wizard's request; a job follows, or the server's errors go to the form.
    fn start<F>(self, call: impl FnOnce(String) -> F + 'static)
    where
        F: Future<Output = Result<JobAccepted, ApiError>> + 'static,
    {
        let Some(token) = self.session.token_untracked() else {
            return;
        };
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        spawn_local(async move {
            let result = self.session.guard(call(token).await);
            self.pending.set(false);
            match result {
                Ok(accepted) => self.phase.set(Phase::Running(accepted.job.id)),
                Err(error) => {
                    let (fields, other) = error.field_errors();
                    self.errors.set(fields);
                    self.message.set(other);
                    self.phase.set(Phase::Form);
                }
            }
        });
    }

    /// Errors for fields this form does not show, and any other problem.
    fn message_view(&self, fields: &'static [&'static str]) -> impl IntoView + use<> {
        let (errors, message) = (self.errors, self.message);
        move || {
            let mut lines = errors.with(|e| e.others(fields));
            lines.extend(message.get());
            (!lines.is_empty()).then(|| {
                view! { <p class="error" id="wizard-error" role="alert">{lines.join("; ")}</p> }
            })
        }
    }
}

pub(super) fn wizard_view(wizard: Wizard, active: RwSignal<Option<Wizard>>) -> impl IntoView {
    let close = move || active.set(None);
    let (title, body) = match wizard {
        Wizard::ConfigureMaster => (
            "Configure master",
            view! { <ConfigureMasterWizard close=close/> }.into_any(),
        ),
        Wizard::PrepareSlave => (
            "Prepare slave",
            view! { <PrepareSlaveWizard close=close/> }.into_any(),
        ),
        Wizard::AddSlave => (
            "Add slave",
            view! { <AddSlaveWizard close=close/> }.into_any(),
        ),
        Wizard::Remove(hostname) => (
            "Remove slave",
            view! { <RemoveWizard hostname=hostname close=close/> }.into_any(),
        ),
        Wizard::AddAgain(hostname) => (
            "Add again",
            view! { <AddAgainWizard hostname=hostname close=close/> }.into_any(),
        ),
        Wizard::Failover => (
            "Manual failover",
            view! { <FailoverWizard close=close/> }.into_any(),
        ),
    };
    // Keyboard and screen-reader users land in the wizard that just opened.
    let heading = NodeRef::<leptos::html::H2>::new();
    Effect::new(move || {
        if let Some(heading) = heading.get() {
            let _ = heading.focus();
        }
    });
    view! {
        <div class="card wizard" id="wizard" role="region" aria-label=title>
            <div class="wizard-head">
                <h2 tabindex="-1" node_ref=heading>{title}</h2>
                <button type="button" class="secondary" id="wizard-close" on:click=move |_| close()>"Close"</button>
            </div>
            {body}
        </div>
    }
}

/// The job view of a wizard, with a way back to the page.
fn running_view(job_id: i64, close: impl Fn() + Copy + 'static) -> AnyView {
    view! {
        <JobProgress job_id=job_id/>
        <div class="button-row">
            <button type="button" class="secondary" id="wizard-done" on:click=move |_| close()>"Back to Cluster Management"</button>
        </div>
    }
    .into_any()
}

fn confirm_buttons(
    flow: Flow,
    label: &'static str,
    confirm: impl Fn() + 'static,
    (back_label, back): (&'static str, impl Fn() + 'static),
) -> impl IntoView {
    view! {
        <div class="button-row">
            <button type="button" id="wizard-confirm" class="danger" disabled=move || flow.pending.get() on:click=move |_| confirm()>
                {move || if flow.pending.get() { "Starting…" } else { label }}
            </button>
            <button type="button" id="wizard-back" class="secondary" on:click=move |_| back()>{back_label}</button>
        </div>
    }
}

fn interface_label(interface: &Interface) -> String {
    let addresses: Vec<String> = interface.addresses.iter().map(address_label).collect();
    if addresses.is_empty() {
        format!("{} (no address)", interface.name)
    } else {
        format!("{} ({})", interface.name, addresses.join(", "))
    }
}

/// An interface picker filled from the node's real interfaces.
fn interface_select(
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    value: RwSignal<String>,
    interfaces: Vec<Interface>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let options = interfaces
        .into_iter()
        .filter(|i| !i.loopback)
        .map(|i| {
            let name = i.name.clone();
            let selected_name = name.clone();
            view! { <option value=name selected=move || value.get() == selected_name>{interface_label(&i)}</option> }
        })
        .collect_view();
    view! {
        <div class="field" class:field-invalid=move || error.with(Option::is_some)>
            <label for=id>{label}</label>
            <select id=id name=id aria-describedby=format!("{id}-error")
                on:change=move |ev| value.set(event_target_value(&ev))>
                <option value="" selected=move || value.get().is_empty()>"Choose an interface…"</option>
                {options}
            </select>
            <p class="hint">{hint}</p>
            <FieldError id=id error=error/>
        </div>
    }
}

#[component]
fn ConfigureMasterWizard(close: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let flow = Flow::new();
    let interfaces = authed_resource(|token| async move { api::interfaces(&token).await });
    let node = authed_resource(|token| async move { api::node_self(&token).await });
    let hostname = RwSignal::new(String::new());
    let cluster_ip = RwSignal::new(String::new());
    let telephony = RwSignal::new(String::new());
    let cluster_if = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let gateways = RwSignal::new(String::new());
    Effect::new(move || {
        if let Some(Ok(node)) = node.get()
            && hostname.get_untracked().is_empty()
        {
            hostname.set(node.hostname.to_string());
        }
    });
    let form = move || MasterForm {
        hostname: hostname.get_untracked(),
        cluster_ip: cluster_ip.get_untracked(),
        telephony_interface: telephony.get_untracked(),
        cluster_interface: cluster_if.get_untracked(),
        notification_email: email.get_untracked(),
        gateways: gateways.get_untracked(),
    };
    let next = move |ev: SubmitEvent| {
        ev.prevent_default();
        let known = interfaces
            .get_untracked()
            .and_then(Result::ok)
            .unwrap_or_default();
        if flow.checked(validation::configure_master(&form(), &known)) {
            flow.phase.set(Phase::Confirm);
        }
    };
    let confirm = move || {
        let body = form().request();
        flow.start(move |token| async move { api::configure_master(&token, &body).await });
    };
    const FIELDS: &[&str] = &[
        "hostname",
        "cluster_ip",
        "telephony_interface",
        "cluster_interface",
        "notification_email",
        "gateways",
    ];
    move || {
        match flow.phase.get() {
        Phase::Form => view! {
            <form id="configure-master-form" on:submit=next novalidate=true>
                <TextField id="cm-hostname" label="Current host name" value=hostname error=flow.error("hostname")
                    hint="The name of this node; the other node's name must differ."/>
                <TextField id="cm-cluster-ip" label="Shared cluster IP" value=cluster_ip error=flow.error("cluster_ip")
                    placeholder="192.0.2.10/24"
                    hint="Address and prefix length. Always held by the current master; phones, gateways and this web interface use only it."/>
                {async_view(interfaces, move |list: Vec<Interface>| view! {
                    {interface_select("cm-telephony-interface", "Telephony network", "The interface you prepared for the telephony network.", telephony, list.clone(), flow.error("telephony_interface"))}
                    {interface_select("cm-cluster-interface", "Internal cluster network", "The interface of the direct cable to the other node.", cluster_if, list, flow.error("cluster_interface"))}
                })}
                <TextField id="cm-email" label="E-mail for notification" value=email error=flow.error("notification_email")
                    placeholder="pbx-admin@example.net"
                    hint="Failover events and failed services are reported here."/>
                <TextField id="cm-gateways" label="Telephony gateways (optional)" value=gateways error=flow.error("gateways")
                    placeholder="192.0.2.1"
                    hint="IP addresses probed to tell whether a node reaches the telephony network; separate several with commas."/>
                {flow.message_view(FIELDS)}
                <div class="button-row">
                    <button type="submit" id="wizard-submit">"Configure"</button>
                </div>
            </form>
        }
        .into_any(),
        Phase::Confirm => {
            let form = form();
            view! {
                <div id="wizard-confirmation">
                    <p class="notice" role="alert"><strong>"Warning: "</strong>{ACTIVATION_WARNING}</p>
                    <dl class="facts">
                        <dt>"Host name"</dt><dd>{form.hostname}</dd>
                        <dt>"Cluster IP"</dt><dd>{form.cluster_ip}</dd>
                        <dt>"Telephony network"</dt><dd>{form.telephony_interface}</dd>
                        <dt>"Internal cluster network"</dt><dd>{form.cluster_interface}</dd>
                        <dt>"E-mail for notification"</dt><dd>{form.notification_email}</dd>
                    </dl>
                    {confirm_buttons(flow, "Activate the cluster", confirm, ("Back", move || flow.phase.set(Phase::Form)))}
                </div>
            }
            .into_any()
        }
        Phase::Running(id) => running_view(id, close),
    }
    }
}

#[component]
fn PrepareSlaveWizard(close: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let flow = Flow::new();
    let node = authed_resource(|token| async move { api::node_self(&token).await });
    let key = RwSignal::new(String::new());
    let next = move |ev: SubmitEvent| {
        ev.prevent_default();
        let own = node
            .get_untracked()
            .and_then(Result::ok)
            .map(|n| n.public_key)
            .unwrap_or_default();
        if flow.checked(validation::master_key(&key.get_untracked(), &own)) {
            let master_public_key = key.get_untracked().trim().to_owned();
            flow.start(move |token| async move {
                api::prepare_slave(&token, &PrepareSlave { master_public_key }).await
            });
        }
    };
    let error = flow.error("master_public_key");
    move || {
        match flow.phase.get() {
        Phase::Form | Phase::Confirm => view! {
            <p>"On the master, open Appliance › Cluster Management and copy its SSH public key, then paste it here. This node will accept the master, and nobody else, on its cluster link."</p>
            <form id="prepare-slave-form" on:submit=next novalidate=true>
                <div class="field" class:field-invalid=move || error.with(Option::is_some)>
                    <label for="ps-key">"SSH public key of the master"</label>
                    <textarea id="ps-key" name="ps-key" rows="3" spellcheck="false" placeholder="ssh-ed25519 AAAA… pequod@node1"
                        aria-describedby="ps-key-error"
                        prop:value=move || key.get()
                        on:input=move |ev| key.set(event_target_value(&ev))></textarea>
                    <FieldError id="ps-key" error=error/>
                </div>
                {flow.message_view(&["master_public_key"])}
                <div class="button-row">
                    <button type="submit" id="wizard-submit" disabled=move || flow.pending.get()>"Save"</button>
                </div>
            </form>
        }
        .into_any(),
        Phase::Running(id) => running_view(id, close),
    }
    }
}

fn plain_ip(text: Option<&str>) -> Option<std::net::IpAddr> {
    text?.split('/').next()?.parse().ok()
}

/// The master's name and addresses as this node (the master) reports itself; unknown
/// parts are left to the server to compare.
fn master_addresses(nodes: Option<Result<Vec<Node>, ApiError>>) -> MasterAddresses {
    nodes
        .and_then(Result::ok)
        .and_then(|nodes| nodes.into_iter().find(|n| n.is_self))
        .map(|n| MasterAddresses {
            telephony_ip: plain_ip(n.telephony_ip.as_deref()),
            sync_ip: plain_ip(n.sync_ip.as_deref()),
            hostname: Some(n.hostname),
        })
        .unwrap_or_default()
}

#[component]
fn AddSlaveWizard(close: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let flow = Flow::new();
    let nodes = authed_resource(|token| async move { api::nodes(&token).await });
    let hostname = RwSignal::new(String::new());
    let telephony_ip = RwSignal::new(String::new());
    let sync_ip = RwSignal::new(String::new());
    let next = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (h, t, s) = (
            hostname.get_untracked(),
            telephony_ip.get_untracked(),
            sync_ip.get_untracked(),
        );
        let master = master_addresses(nodes.get_untracked());
        let Some(valid) = flow.passed(validation::slave(Some(&h), &t, &s, &master)) else {
            return;
        };
        let Some(hostname) = valid.hostname else {
            return;
        };
        let body = AddSlave {
            hostname,
            telephony_ip: valid.telephony_ip.to_string(),
            sync_ip: valid.sync_ip.to_string(),
        };
        flow.start(move |token| async move { api::add_slave(&token, &body).await });
    };
    move || {
        match flow.phase.get() {
        Phase::Form | Phase::Confirm => view! {
            <p>"Prepare the slave first (Prepare slave on it, with this master's key). Then enter its data:"</p>
            <form id="add-slave-form" on:submit=next novalidate=true>
                <TextField id="as-hostname" label="Host name" value=hostname error=flow.error("hostname") placeholder="node2"
                    hint="Host name of the slave node."/>
                <TextField id="as-telephony-ip" label="Telephony network IP of the slave" value=telephony_ip error=flow.error("telephony_ip")
                    placeholder="192.0.2.12"/>
                <TextField id="as-sync-ip" label="Sync IP of the slave" value=sync_ip error=flow.error("sync_ip")
                    placeholder="172.16.1.2" hint="Its address on the internal cluster network."/>
                <div class="node-key">
                    <span class="label" id="as-master-key-label">"SSH key of the master (for reference)"</span>
                    {async_view(nodes, |nodes: Vec<Node>| {
                        let key = nodes.into_iter().find(|n| n.is_self).map(|n| n.public_key).unwrap_or_default();
                        view! {
                            <code id="as-master-key" class="ssh-key" aria-labelledby="as-master-key-label">{key.clone()}</code>
                            <CopyButton text=key target_id="as-master-key"/>
                        }
                    })}
                </div>
                {flow.message_view(&["hostname", "telephony_ip", "sync_ip"])}
                <div class="button-row">
                    <button type="submit" id="wizard-submit" disabled=move || flow.pending.get()>"Apply"</button>
                </div>
            </form>
        }
        .into_any(),
        Phase::Running(id) => running_view(id, close),
    }
    }
}

#[component]
fn AddAgainWizard(
    hostname: String,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let flow = Flow::new();
    let slaves = authed_resource(|token| async move { api::slaves(&token).await });
    let nodes = authed_resource(|token| async move { api::nodes(&token).await });
    let cached = RwSignal::new(None::<Slave>);
    let telephony_ip = RwSignal::new(String::new());
    let sync_ip = RwSignal::new(String::new());
    let name = hostname.clone();
    Effect::new(move || {
        if let Some(Ok(slaves)) = slaves.get()
            && cached.get_untracked().is_none()
            && let Some(slave) = slaves.into_iter().find(|s| s.hostname.as_str() == name)
        {
            telephony_ip.set(slave.telephony_ip.clone());
            sync_ip.set(slave.sync_ip.clone());
            cached.set(Some(slave));
        }
    });
    let target = hostname.clone();
    let next = move |ev: SubmitEvent| {
        ev.prevent_default();
        let master = master_addresses(nodes.get_untracked());
        let (t, s) = (
            telephony_ip.get_untracked().trim().to_owned(),
            sync_ip.get_untracked().trim().to_owned(),
        );
        if flow
            .passed(validation::slave(None, &t, &s, &master))
            .is_none()
        {
            return;
        }
        let old = cached.get_untracked();
        // Only changed addresses are sent: unchanged, the cached ones are used.
        let body = ReaddSlave {
            telephony_ip: (old.as_ref().map(|o| o.telephony_ip.as_str()) != Some(t.as_str()))
                .then_some(t),
            sync_ip: (old.as_ref().map(|o| o.sync_ip.as_str()) != Some(s.as_str())).then_some(s),
        };
        let target = target.clone();
        flow.start(move |token| async move { api::readd_slave(&token, &target, &body).await });
    };
    move || {
        match flow.phase.get() {
        Phase::Form | Phase::Confirm => view! {
            <p>{format!("Pequod suggests the cached data of {hostname}. If the node was replaced, enter the new node's addresses (and run Prepare slave on it first).")}</p>
            <form id="add-again-form" on:submit=next.clone() novalidate=true>
                <div class="field">
                    <label for="ra-hostname">"Host name"</label>
                    <input id="ra-hostname" type="text" readonly=true value=hostname.clone()/>
                </div>
                <TextField id="ra-telephony-ip" label="Telephony network IP of the slave" value=telephony_ip error=flow.error("telephony_ip")/>
                <TextField id="ra-sync-ip" label="Sync IP of the slave" value=sync_ip error=flow.error("sync_ip")/>
                {flow.message_view(&["telephony_ip", "sync_ip"])}
                <div class="button-row">
                    <button type="submit" id="wizard-submit" disabled=move || flow.pending.get()>"Apply"</button>
                </div>
            </form>
        }
        .into_any(),
        Phase::Running(id) => running_view(id, close),
    }
    }
}

#[component]
fn RemoveWizard(
    hostname: String,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let flow = Flow::new();
    let target = hostname.clone();
    let confirm = move || {
        let target = target.clone();
        flow.start(move |token| async move { api::remove_slave(&token, &target).await });
    };
    move || {
        match flow.phase.get() {
        Phase::Form | Phase::Confirm => view! {
            <p>{format!("Remove {hostname} from the cluster? It stops receiving data and cannot take over until it is added again. Active calls are not interrupted.")}</p>
            {flow.message_view(&[])}
            {confirm_buttons(flow, "Remove", confirm.clone(), ("Cancel", close))}
        }
        .into_any(),
        Phase::Running(id) => running_view(id, close),
    }
    }
}

#[component]
fn FailoverWizard(close: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let flow = Flow::new();
    let confirm = move || flow.start(|token| async move { api::manual_failover(&token).await });
    move || {
        match flow.phase.get() {
        Phase::Form | Phase::Confirm => view! {
            <p class="notice" role="alert"><strong>"Warning: "</strong>{FAILOVER_WARNING}
                " The slave takes over the cluster IP and all services; this node becomes standby and waits for Add again."</p>
            {flow.message_view(&[])}
            {confirm_buttons(flow, "Fail over now", confirm, ("Cancel", close))}
        }
        .into_any(),
        Phase::Running(id) => running_view(id, close),
    }
    }
}
