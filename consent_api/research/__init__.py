"""Research preferences: whether and for what a patient may be invited to studies (opt-in, never by
default), and how often at most."""
