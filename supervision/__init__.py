"""The domain: projects, cases, registry matching, supervision models, alerts and audit."""
