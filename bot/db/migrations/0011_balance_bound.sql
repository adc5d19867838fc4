-- No balance may leave the range JSON consumers (and JavaScript) read exactly: 2**53 - 1.
-- bot/ledger.py and the config already keep max_balance inside it; this makes it a fact of
-- the database too. SQLite cannot add a CHECK to an existing table, hence triggers.

CREATE TRIGGER guild_balances_json_safe_insert
BEFORE INSERT ON guild_balances
WHEN NEW.balance > 9007199254740991
BEGIN
    SELECT RAISE(ABORT, 'balance above 2**53 - 1 is refused');
END;

CREATE TRIGGER guild_balances_json_safe_update
BEFORE UPDATE OF balance ON guild_balances
WHEN NEW.balance > 9007199254740991
BEGIN
    SELECT RAISE(ABORT, 'balance above 2**53 - 1 is refused');
END;

CREATE TRIGGER ledger_journal_json_safe
BEFORE INSERT ON ledger_journal
WHEN NEW.balance_after > 9007199254740991 OR abs(NEW.delta) > 9007199254740991
BEGIN
    SELECT RAISE(ABORT, 'balance above 2**53 - 1 is refused');
END;
