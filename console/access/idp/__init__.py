"""The console as an OpenID provider and OAuth authorization server (app label ``idp``), on
django-oauth-toolkit: SaaS applications sign people in through the console's sign-in, MFA and
Access policies; machines (SSF receivers) get client-credentials tokens. See docs/saas.md."""
