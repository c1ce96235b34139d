-- A one-time link that gives an existing account a new password and authenticator
-- (`mailward owner recover`): the account it recovers. NULL for invitations of new people.
ALTER TABLE invites ADD COLUMN recovers TEXT REFERENCES users(id);
