"""Who may do what: identities, keys, access rules, and single sign-on."""
