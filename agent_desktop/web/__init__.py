"""The desktop's web side: SSO session, shared QtWebEngine profile, BS area and page bridge."""
