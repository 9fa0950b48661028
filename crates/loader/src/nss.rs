//! `/etc/nsswitch.conf`: which NSS service modules glibc may load for which database.

use std::collections::BTreeMap;

/// Parsed nsswitch.conf: database -> services in order (action items dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NssConf {
    pub dbs: BTreeMap<String, Vec<String>>,
}

impl NssConf {
    pub fn parse(text: &str) -> NssConf {
        let mut dbs = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let Some((db, rest)) = line.split_once(':') else {
                continue;
            };
            let db = db.trim();
            if db.is_empty() || db.contains(char::is_whitespace) {
                continue;
            }
            let mut services = Vec::new();
            let mut in_action = false;
            for word in rest.split_whitespace() {
                // `[NOTFOUND=return]` and `[ !UNAVAIL = return ]` are actions, not services.
                if word.starts_with('[') {
                    in_action = true;
                }
                if in_action {
                    if word.ends_with(']') {
                        in_action = false;
                    }
                    continue;
                }
                if word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    services.push(word.to_owned());
                }
            }
            dbs.insert(db.to_owned(), services);
        }
        NssConf { dbs }
    }

    /// Services glibc 2.36 consults for `db`: the configured line, else glibc's default
    /// ("initgroups" falls back to "group"; "hosts" defaults to "dns files"; others "files").
    pub fn services(&self, db: &str) -> Vec<String> {
        if let Some(s) = self.dbs.get(db) {
            return s.clone();
        }
        if db == "initgroups" {
            return self.services("group");
        }
        if db == "hosts" {
            return vec!["dns".into(), "files".into()];
        }
        vec!["files".into()]
    }
}

/// NSS entry points and the databases they consult. Any of these imported by an object of a
/// program makes that program load the modules configured for those databases. Functions
/// that reach NSS from inside libc (glob's `~user`, getlogin, rcmd) are listed too.
pub const NSS_FUNCTIONS: &[(&str, &[&str])] = &[
    ("getpwnam", &["passwd"]),
    ("getpwnam_r", &["passwd"]),
    ("getpwuid", &["passwd"]),
    ("getpwuid_r", &["passwd"]),
    ("getpwent", &["passwd"]),
    ("getpwent_r", &["passwd"]),
    ("fgetpwent", &["passwd"]),
    ("getpw", &["passwd"]),
    ("getlogin", &["passwd"]),
    ("getlogin_r", &["passwd"]),
    ("cuserid", &["passwd"]),
    ("glob", &["passwd"]),
    ("glob64", &["passwd"]),
    ("wordexp", &["passwd"]),
    ("getgrnam", &["group"]),
    ("getgrnam_r", &["group"]),
    ("getgrgid", &["group"]),
    ("getgrgid_r", &["group"]),
    ("getgrent", &["group"]),
    ("getgrent_r", &["group"]),
    ("initgroups", &["initgroups", "group"]),
    ("getgrouplist", &["initgroups", "group"]),
    ("getspnam", &["shadow"]),
    ("getspnam_r", &["shadow"]),
    ("getspent", &["shadow"]),
    ("getsgnam", &["gshadow"]),
    ("getsgent", &["gshadow"]),
    ("getaddrinfo", &["hosts", "services"]),
    ("getnameinfo", &["hosts", "services"]),
    ("gethostbyname", &["hosts"]),
    ("gethostbyname2", &["hosts"]),
    ("gethostbyname_r", &["hosts"]),
    ("gethostbyname2_r", &["hosts"]),
    ("gethostbyaddr", &["hosts"]),
    ("gethostbyaddr_r", &["hosts"]),
    ("gethostent", &["hosts"]),
    ("getservbyname", &["services"]),
    ("getservbyname_r", &["services"]),
    ("getservbyport", &["services"]),
    ("getservbyport_r", &["services"]),
    ("getservent", &["services"]),
    ("getprotobyname", &["protocols"]),
    ("getprotobyname_r", &["protocols"]),
    ("getprotobynumber", &["protocols"]),
    ("getprotobynumber_r", &["protocols"]),
    ("getprotoent", &["protocols"]),
    ("getnetbyname", &["networks"]),
    ("getnetbyaddr", &["networks"]),
    ("getnetent", &["networks"]),
    ("getrpcbyname", &["rpc"]),
    ("getrpcbynumber", &["rpc"]),
    ("getrpcent", &["rpc"]),
    ("ether_ntohost", &["ethers"]),
    ("ether_hostton", &["ethers"]),
    ("innetgr", &["netgroup"]),
    ("setnetgrent", &["netgroup"]),
    ("getnetgrent", &["netgroup"]),
    ("getaliasbyname", &["aliases"]),
    ("getaliasent", &["aliases"]),
    ("rcmd", &["hosts", "passwd"]),
    ("rcmd_af", &["hosts", "passwd"]),
    ("rexec", &["hosts", "services"]),
    ("ruserok", &["hosts", "passwd"]),
    ("iruserok", &["hosts", "passwd"]),
];

/// Databases reached by an imported symbol name, if it is an NSS entry point.
pub fn databases_for(symbol: &str) -> &'static [&'static str] {
    NSS_FUNCTIONS
        .iter()
        .find(|(f, _)| *f == symbol)
        .map(|(_, d)| *d)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_actions_and_defaults() {
        let c = NssConf::parse(
            "# x\npasswd:  files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n\
             group: compat [ !UNAVAIL = return ] sss\nnetgroup:\n",
        );
        assert_eq!(c.services("passwd"), vec!["files", "systemd"]);
        assert_eq!(
            c.services("hosts"),
            vec!["files", "mdns4_minimal", "dns", "myhostname"]
        );
        assert_eq!(c.services("group"), vec!["compat", "sss"]);
        assert_eq!(c.services("initgroups"), vec!["compat", "sss"]);
        assert!(c.services("netgroup").is_empty());
        assert_eq!(c.services("services"), vec!["files"]);
        assert_eq!(NssConf::default().services("hosts"), vec!["dns", "files"]);
        assert_eq!(databases_for("getaddrinfo"), &["hosts", "services"]);
        assert!(databases_for("printf").is_empty());
    }

    #[test]
    fn host_nsswitch() {
        let Ok(text) = std::fs::read_to_string("/etc/nsswitch.conf") else {
            eprintln!("skip: no /etc/nsswitch.conf");
            return;
        };
        let c = NssConf::parse(&text);
        assert!(c.services("passwd").contains(&"files".to_owned()));
    }
}
