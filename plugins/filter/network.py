# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address and URL filters of kubebin.cluster (stdlib ipaddress; no netaddr on the controller).

The roles compute the cluster model with these instead of Jinja arithmetic and regexes:
the first Service IP of the service CIDR, URL hosts with IPv6 brackets, the API server URL
from kubebin_apiserver_endpoint, the interface (and its network) that holds an address. Documentation: the YAML file of the same name as each filter.
"""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError

_PORTED = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+):(?P<port>[0-9]{1,5})$")


def _network(value, name):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError as exc:
        raise AnsibleFilterError(f"{name}: {value!r} is not an IP network in CIDR notation ({exc})") from None


def cidr_address(cidr, index):
    """The address at position index of the network (0 = network address, -1 = last)."""
    net = _network(cidr, "cidr_address")
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"cidr_address: index {index!r} is not an integer") from None
    if not -net.num_addresses <= index < net.num_addresses:
        raise AnsibleFilterError(f"cidr_address: {cidr} has {net.num_addresses} addresses, no index {index}")
    return str(net[index])


def url_host(address):
    """address as the host part of a URL: IPv6 addresses in brackets, the rest unchanged."""
    text = str(address).strip()
    try:
        if ipaddress.ip_address(text).version == 6:
            return f"[{text}]"
    except ValueError:
        pass
    return text


def apiserver_url(endpoint, port, default_host=""):
    """The https URL of an API server endpoint given as a URL, host:port or host.

    An empty endpoint gives https://<default_host>:<port> (an empty string when default_host
    is empty too); a URL keeps its port (and loses trailing slashes); a host without a port
    gets port.
    """
    text = str(endpoint or "").strip()
    if not text:
        text = str(default_host or "").strip()
        if not text:
            return ""
    if text.startswith("https://"):
        return text.rstrip("/")
    if "://" in text:
        raise AnsibleFilterError(f"apiserver_url: {endpoint!r} is not an https URL, a host or host:port")
    match = _PORTED.match(text)
    if match:
        return f"https://{match.group('host')}:{int(match.group('port'))}"
    return f"https://{url_host(text)}:{int(port)}"


def url_hostname(url):
    """The host of a URL, host:port or host (no brackets): what a certificate SAN names."""
    text = re.sub(r"^[a-z]+://", "", str(url or "").strip()).split("/", 1)[0]
    match = _PORTED.match(text)
    if match:
        text = match.group("host")
    return text[1:-1] if text.startswith("[") and text.endswith("]") else text


_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_NOT_A_HOST_NAME = re.compile(r"^[0-9.]+$|localhost|loopback")


def dns_names(values):
    """The valid host names among values: lowercase RFC 1123 names, no IP address or
    localhost name, each once, in order (a host's inventory name, short name and FQDN)."""
    out = []
    for value in values or []:
        name = str(value or "").strip().lower()
        if name and _DNS_NAME.match(name) and not _NOT_A_HOST_NAME.search(name) and name not in out:
            out.append(name)
    return out


def _is_ip(value):
    try:
        ipaddress.ip_address(str(value).strip())
        return True
    except ValueError:
        return False


def _known_address(hv):
    """The cluster address of a host's hostvars: kubebin_node_ip as roles/common published it (or
    the inventory set it), else ansible_host when it is an IP address, else the default-route
    address of its facts (roles/common's own default for kubebin_node_ip), else ''."""
    address = hv.get("kubebin_node_ip")
    if address:
        return str(address).strip()
    inventory_address = str(hv.get("ansible_host") or "")
    if _is_ip(inventory_address):
        return inventory_address
    return str(((hv.get("ansible_facts") or {}).get("default_ipv4") or {}).get("address", ""))


def node_address(host, hostvars):
    """The cluster address of inventory host `host`, the same rule for every role: what
    roles/common published as its kubebin_node_ip, else its ansible_host when that is an IP
    address, else the default-route address of its facts, else its ansible_host or its name
    (a name the controller resolves)."""
    hv = hostvars[host]
    return _known_address(hv) or str(hv.get("ansible_host") or host)


def node_identities(hosts, hostvars):
    """Each host's identity for the kubelet CSR policy: {name, addresses, dns_names}.

    From what roles/common published for the host (kubebin_node_ip, kubebin_node_dns_names);
    for a host that has not run common in this run, its ansible_host when that is an IP address
    (else the default-route address of its facts, else none) and the names of its inventory
    name and facts. The name is node_name (default: the inventory name), left out of dns_names.
    """
    out = []
    for host in hosts or []:
        hv = hostvars[host]
        facts = hv.get("ansible_facts") or {}
        name = str(hv.get("node_name") or host)
        address = _known_address(hv)
        names = hv.get("kubebin_node_dns_names")
        if names is None:
            names = dns_names([host, facts.get("hostname", ""), facts.get("fqdn", "")])
        out.append({"name": name, "addresses": [str(address)] if address else [],
                    "dns_names": [n for n in names if n != name]})
    return out


def _ipv4_entries(facts_entry):
    entries = facts_entry.get("ipv4")
    out = [entries] if isinstance(entries, dict) else []
    return out + [e for e in facts_entry.get("ipv4_secondaries") or [] if isinstance(e, dict)]


def ipv4_interface(facts, address="", interface=""):
    """The interface of the host facts that holds IPv4 address, as {interface, address,
    network}: network is the interface's network in CIDR notation (from that address's own
    netmask). With interface, that interface only: the entry of address when it holds it,
    else its primary IPv4 address. An empty dict when nothing matches."""
    try:
        wanted = ipaddress.ip_address(str(address or "").strip()) if str(address or "").strip() else None
    except ValueError:
        wanted = None
        if not interface:
            return {}
    if not isinstance(facts, dict) or (wanted is None and not interface) or (wanted is not None and wanted.version != 4):
        return {}
    names = [str(n) for n in facts.get("interfaces") or []]
    for name in names:
        entry = facts.get(name.replace("-", "_").replace(".", "_").replace(":", "_")) or facts.get(name)
        if not isinstance(entry, dict):
            continue
        device = str(entry.get("device") or name)
        if interface and device != str(interface):
            continue
        found = []
        for item in _ipv4_entries(entry):
            try:
                found.append(ipaddress.ip_interface(f"{item.get('address')}/{item.get('netmask') or item.get('prefix')}"))
            except (TypeError, ValueError):
                continue
        match = [f for f in found if f.ip == wanted] or (found[:1] if interface else [])
        if match:
            return {"interface": device, "address": str(match[0].ip), "network": str(match[0].network)}
    return {}


class FilterModule:
    """kubebin.cluster network filters."""

    def filters(self):
        return {
            "cidr_address": cidr_address,
            "url_host": url_host,
            "apiserver_url": apiserver_url,
            "url_hostname": url_hostname,
            "dns_names": dns_names,
            "ipv4_interface": ipv4_interface,
            "node_identities": node_identities,
            "node_address": node_address,
        }
