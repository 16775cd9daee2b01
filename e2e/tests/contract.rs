//! The OpenAPI document as a contract third parties build on: a property-based fuzzer
//! (schemathesis, every check, the stateful phase included) finds no request the
//! server answers otherwise than the document says, and a Python client generated
//! from the committed document (openapi-python-client) logs in, reads the cluster and
//! works with an API token. Both run from the phone's namespace (an admin's machine on
//! the telephony LAN) against a node in the lab: the fuzzer's requests (Configure
//! master with made-up interfaces, Prepare slave, test mails) stay inside namespaces
//! the test made. Both trust exactly the node's own self-signed certificate: it is their
//! only CA, and the phone knows the node by the name the certificate carries.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use pequod_e2e::cluster::{ADMIN_PASSWORD, API_PORT, LabCluster, python_tool};
use pequod_e2e::{Ns, require_root};
use serde_json::json;

/// The committed document: what generated clients are built from.
fn committed_document() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

/// The phone's name for a node, in its own `/etc/hosts` (`ip netns exec` binds
/// `/etc/netns/<namespace>/hosts` over it), as an admin's machine resolves an
/// appliance; removed when dropped.
struct PhoneHosts {
    dir: PathBuf,
}

impl Drop for PhoneHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts node1 and returns its HTTPS URL by the name its certificate carries (its
/// host name at its first start), the phone's name for it, and the certificate file.
fn start_node(cluster: &LabCluster) -> (String, PhoneHosts, PathBuf) {
    cluster.start(Ns::Node1).unwrap();
    let node = cluster.get(Ns::Node1, "/api/v1/nodes/self").unwrap();
    let name = node["hostname"].as_str().unwrap().to_string();
    let ip = Ns::Node1
        .telephony_ip()
        .expect("node1 has a telephony address");
    let hosts = PhoneHosts {
        dir: Path::new("/etc/netns").join(cluster.lab.ns(Ns::Phone)),
    };
    std::fs::create_dir_all(&hosts.dir).unwrap();
    std::fs::write(
        hosts.dir.join("hosts"),
        format!("127.0.0.1 localhost\n{ip} {name}\n"),
    )
    .unwrap();
    let cert = cluster.tls_certificate_file(Ns::Node1).unwrap();
    (format!("https://{name}:{API_PORT}"), hosts, cert)
}

fn show(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The fuzzer's credentials: a login token of `admin`. Not an API token: the fuzzer
/// lists the tokens and revokes what it finds, its own included, and would then test
/// everything after that with a dead token.
fn fuzzer_token(cluster: &LabCluster) -> String {
    let (status, login) = cluster
        .request(
            Ns::Node1,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({ "username": "admin", "password": ADMIN_PASSWORD })),
        )
        .unwrap();
    assert_eq!(status, 200, "{login}");
    login["token"].as_str().unwrap().to_string()
}

#[test]
fn the_fuzzer_finds_no_request_answered_against_the_document() {
    if !require_root() {
        return;
    }
    let schemathesis = python_tool("schemathesis").unwrap();
    let cluster = LabCluster::new("fuzz").unwrap();
    let (url, _hosts, cert) = start_node(&cluster);
    let token = fuzzer_token(&cluster);
    let work = tempfile::tempdir().unwrap();
    // A fixed seed and no example database: the same requests on every run, so a
    // failure is reproduced by running the test again, never a matter of luck.
    let output = cluster
        .lab
        .command(Ns::Phone, &schemathesis)
        .arg("run")
        .arg(committed_document())
        .args(["--url", &url])
        .arg("--tls-verify")
        .arg(&cert)
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "60"])
        .args(["--seed", "20261204"])
        .args(["--generation-database", "none"])
        .args(["--workers", "1"])
        // The event stream never ends by design; its contract is tested in the API
        // tests (backend/tests/api/events.rs).
        .args(["--exclude-path", "/api/v1/events"])
        .arg("--no-color")
        .current_dir(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('='))
        .unwrap_or("(no summary line)");
    // The warnings and the summary (operations, phases, test cases) go to the test's
    // output.
    let from_summary: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.contains(" WARNINGS ") && !line.contains(" SUMMARY "))
        .collect();
    println!("schemathesis:\n{}", from_summary.join("\n"));
    assert!(output.status.success(), "{}", show(&output));
    for bad in ["failure", "error"] {
        assert!(
            !summary.contains(bad),
            "the summary names a {bad}: {summary}"
        );
    }
    assert!(summary.contains(" in "), "{summary}");
    // Only the login may answer nothing but 401 (the fuzzer cannot guess a password):
    // more means its token ended halfway and the rest was tested without one.
    assert!(
        !stdout.contains("operations returned only 401/403"),
        "the fuzzer lost its credentials:\n{}",
        from_summary.join("\n")
    );
}

#[test]
fn a_python_client_generated_from_the_document_logs_in_and_reads_the_cluster() {
    if !require_root() {
        return;
    }
    let generator = python_tool("openapi-python-client").unwrap();
    let python = python_tool("python").unwrap();
    let work = tempfile::tempdir().unwrap();
    // No formatting hooks: the generated code is used as generated.
    std::fs::write(work.path().join("config.yaml"), "post_hooks: []\n").unwrap();
    let generated = std::process::Command::new(&generator)
        .args([
            "generate",
            "--meta",
            "none",
            "--config",
            "config.yaml",
            "--path",
        ])
        .arg(committed_document())
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", show(&generated));
    let stderr = String::from_utf8_lossy(&generated.stderr);
    assert!(
        !stderr.contains("Warning"),
        "the generator left pieces out: {}",
        show(&generated)
    );

    let cluster = LabCluster::new("pyclient").unwrap();
    let (url, _hosts, cert) = start_node(&cluster);
    let script = r#"
import ssl
import sys
from pequod_client import AuthenticatedClient, Client
from pequod_client.api.auth import login, me
from pequod_client.api.cluster import get_cluster
from pequod_client.api.users import create_token
from pequod_client.models import (AccessRole, Cluster, CreatedApiToken, LoginRequest,
    LoginResponse, Me, NewApiToken, PrincipalKind, Problem)

url, password, cert = sys.argv[1], sys.argv[2], sys.argv[3]
# The node's own certificate is the only one trusted, its name checked too.
tls = ssl.create_default_context(cafile=cert)
anonymous = Client(base_url=url, verify_ssl=tls, raise_on_unexpected_status=True)
refused = login.sync(client=anonymous, body=LoginRequest(username="admin", password="wrong"))
assert isinstance(refused, Problem) and refused.status == 401, refused
session = login.sync(client=anonymous, body=LoginRequest(username="admin", password=password))
assert isinstance(session, LoginResponse), session
admin = AuthenticatedClient(base_url=url, token=session.token, verify_ssl=tls,
    raise_on_unexpected_status=True)
state = get_cluster.sync(client=admin)
assert isinstance(state, Cluster), state
print("cluster", state.mode.value, state.role.value, state.lamp.value)
created = create_token.sync(client=admin, body=NewApiToken(
    name="python-script", role=AccessRole.VIEWER, expires_in_days=7))
assert isinstance(created, CreatedApiToken), created
scripted = AuthenticatedClient(base_url=url, token=created.secret, verify_ssl=tls,
    raise_on_unexpected_status=True)
who = me.sync(client=scripted)
assert isinstance(who, Me), who
print("token", who.username, who.role.value, who.kind.value)
again = get_cluster.sync(client=scripted)
print("cluster by token", again.mode.value)
"#;
    std::fs::write(work.path().join("check.py"), script).unwrap();
    let output = cluster
        .lab
        .command(Ns::Phone, &python)
        .arg("check.py")
        .arg(&url)
        .arg(ADMIN_PASSWORD)
        .arg(&cert)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", show(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "cluster standalone standalone green\n\
         token python-script viewer api_token\n\
         cluster by token standalone\n"
    );
}
