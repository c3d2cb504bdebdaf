"""Helpers the tests share (the fixed cast, two-factor codes, real worker and web processes, a
local SMTP server). Not named "support", so it cannot be taken for the support app's tests."""
