# Mail provider presets: `"smtp": {"provider": "gmail", ...}` fills in host, port and mode, so a
# user writes only the credentials (and the CA, from `make ca`). What each provider needs
# besides (app passwords, OAuth2) is in boards/README.md. A key the user sets wins over the
# preset; a port given without a mode gets the port's mode (465 tls, else starttls).

PROVIDERS = {
    # name: (host, port, mode)
    "gmail": ("smtp.gmail.com", 465, "tls"),
    "outlook": ("smtp.office365.com", 587, "starttls"),        # Microsoft 365 / Exchange Online
    "outlook.com": ("smtp-mail.outlook.com", 587, "starttls"),  # personal Outlook.com / Hotmail
    "fastmail": ("smtp.fastmail.com", 465, "tls"),
    "icloud": ("smtp.mail.me.com", 587, "starttls"),
}


def apply(override, section="smtp"):
    """A copy of the user's config dict with the provider's host, port and mode filled in where
    the user left them out. Raises ConfigError naming an unknown provider."""
    from outpost_contract import settings
    if not isinstance(override, dict):
        return override
    smtp = override.get(section)
    if not isinstance(smtp, dict) or not smtp.get("provider"):
        return override
    name = smtp["provider"]
    key = section + ".provider"
    if not isinstance(name, str) or name not in PROVIDERS:
        near = settings.closest(name, PROVIDERS) if isinstance(name, str) else None
        hint = ", did you mean " + repr(near) + "?" if near else ""
        raise settings.error(key, "unknown provider" + hint + " (known: " +
                             ", ".join(sorted(PROVIDERS)) + "; or leave it out and set host, "
                             "port and mode)", name)
    host, port, mode = PROVIDERS[name]
    filled = dict(smtp)
    if not filled.get("host"):
        filled["host"] = host
    if not filled.get("port"):
        filled["port"] = port if "mode" not in smtp or smtp["mode"] == mode else 0
    if "mode" not in smtp:
        filled["mode"] = mode if filled["port"] == port else ("tls" if filled["port"] == 465 else "starttls")
    out = dict(override)
    out[section] = filled
    return out
