"""Every write of onboarding and identity verification, one module per subject.

HR's side (``cases``): ``case_create``, ``case_resend``, ``case_cancel``. The new hire's side:
``invitations.invitation_redeem`` (the single-use link) → the provider →
``verification.verification_complete`` (the callback: token validated, claims checked) →
``gate.onboarding_finish`` once an authenticator is enrolled. The same verification also serves
signed-in people (``verification_begin`` with the purposes step-up and replacing lost
authenticators) and people who cannot sign in any more (account recovery). ``providers`` says
which verification providers a flow may use."""
