package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.List;

import org.json.JSONException;
import org.json.JSONObject;
import org.junit.Test;

public class RegistrationBookTest {
    static final String VAPID = "B" + "x".repeat(85) + "A";
    private static final long NOW = 1_700_000_000_000L;
    private final RegistrationBook book = new RegistrationBook(new SequentialIds());

    private Registration request(String packageName, String token, String vapid, String description)
            throws InvalidRequestException, InvalidVapidException, TokenTakenException {
        return book.request(packageName, token, vapid, description, NOW);
    }

    @Test
    public void newRegistrationGetsItsOwnInstanceAndNoEndpointYet() throws Exception {
        Registration r = request("org.app", "tok-1", VAPID, "chat");
        assertEquals("instance-1", r.instance);
        assertEquals("org.app", r.packageName);
        assertEquals(VAPID, r.vapid);
        assertEquals("chat", r.description);
        assertNull(r.endpoint);
        assertFalse(r.confirmed);
        assertFalse(r.announced());
    }

    @Test
    public void reRegisterWithTheSameTokenKeepsInstanceAndEndpoint() throws Exception {
        request("org.app", "tok-1", VAPID, null);
        book.confirm("tok-1", "https://relay.example/up/abc");
        Registration again = request("org.app", "tok-1", VAPID, null);
        assertEquals("instance-1", again.instance);
        assertEquals("https://relay.example/up/abc", again.endpoint);
        assertTrue(again.confirmed);
    }

    @Test
    public void aKnownEndpointIsAnsweredFromTheBookEvenWhenTheRelayMustBeAskedAgain() throws Exception {
        request("org.app", "tok-1", VAPID, null);
        book.confirm("tok-1", "https://relay.example/up/abc");
        book.unconfirmAll();
        Registration again = book.request("org.app", "tok-1", VAPID, null, NOW + 1);
        assertFalse(again.confirmed);
        assertFalse("no answer is owed: the app gets the endpoint it has", again.answerOwed());
        assertEquals("https://relay.example/up/abc", again.endpoint);
    }

    @Test
    public void changedVapidKeepsTheInstanceButNeedsTheRelayAgain() throws Exception {
        request("org.app", "tok-1", VAPID, null);
        book.confirm("tok-1", "https://relay.example/up/abc");
        String other = "B" + "y".repeat(85) + "A";
        Registration changed = request("org.app", "tok-1", other, null);
        assertEquals("instance-1", changed.instance);
        assertFalse(changed.confirmed);
        assertTrue("the app still holds its old endpoint", changed.announced());
        assertEquals(other, changed.vapid);
    }

    @Test
    public void oneAppMayHoldManyRegistrations() throws Exception {
        request("org.app", "tok-1", null, null);
        request("org.app", "tok-2", null, null);
        request("org.other", "tok-3", null, null);
        assertEquals(3, book.all().size());
        assertNotEquals(book.get("tok-1").instance, book.get("tok-2").instance);
        assertEquals("tok-2", book.byInstance("instance-2").token);
    }

    @Test
    public void anotherAppCannotTakeAToken() throws Exception {
        request("org.app", "tok-1", null, null);
        assertThrows(TokenTakenException.class, () -> request("org.evil", "tok-1", null, null));
        assertEquals("org.app", book.get("tok-1").packageName);
    }

    @Test
    public void tokenLimitIsCountedInUtf8Bytes() throws Exception {
        request("org.app", "t".repeat(100), null, null);
        assertThrows(InvalidRequestException.class, () -> request("org.app", "t".repeat(101), null, null));
        // 50 two-byte characters are exactly 100 bytes; one more byte is too many.
        request("org.app", "\u00e9".repeat(50), null, null);
        assertThrows(InvalidRequestException.class, () -> request("org.app", "\u00e9".repeat(50) + "x", null, null));
        assertThrows(InvalidRequestException.class, () -> request("org.app", "", null, null));
        assertThrows(InvalidRequestException.class, () -> request("org.app", null, null, null));
    }

    @Test
    public void vapidMustBe87Base64UrlCharacters() throws Exception {
        assertThrows(InvalidRequestException.class, () -> request("org.app", "a", VAPID.substring(1), null));
        assertThrows(InvalidRequestException.class, () -> request("org.app", "b", VAPID + "A", null));
        assertThrows(InvalidRequestException.class, () -> request("org.app", "c", "B+" + VAPID.substring(2), null));
        assertThrows("compressed or non-point keys are answered, not ignored", InvalidVapidException.class,
                () -> request("org.app", "e", "A" + VAPID.substring(1), null));
        assertNull("an empty key means none", request("org.app", "d", "", null).vapid);
    }

    @Test
    public void descriptionIsCutTo100BytesWithoutSplittingACharacter() throws Exception {
        assertEquals("d".repeat(100), request("org.app", "a", null, "d".repeat(100)).description);
        // The connector does not cut it, and an ignored REGISTER would leave the app waiting forever.
        assertEquals("d".repeat(100), request("org.app", "b", null, "d".repeat(101)).description);
        // 99 ASCII bytes, then a 2-byte character that would end at byte 101: it goes whole.
        assertEquals("d".repeat(99), request("org.app", "c", null, "d".repeat(99) + "\u00e9x").description);
        // Four-byte characters (a surrogate pair in Java): 25 fit, half of the 26th is never kept.
        String snowmen = "\ud83d\ude00".repeat(30);
        Registration r = request("org.app", "e", null, snowmen);
        assertEquals("\ud83d\ude00".repeat(25), r.description);
        assertEquals(100, Limits.utf8Length(r.description));
    }

    @Test
    public void aRegisterOwesAnAnswerUntilConfirmedAndAKnownOneIsAnsweredAtOnce() throws Exception {
        Registration r = request("org.app", "a", null, null);
        assertEquals(NOW, r.requestedAt);
        assertTrue(r.answerOwed());
        assertEquals(List.of(r), book.owingAnswers());
        Registration done = book.confirm("a", "https://relay.example/up/a");
        assertEquals(0, done.requestedAt);
        assertFalse(done.answerOwed());
        assertTrue(book.owingAnswers().isEmpty());
        // The same token again with the same key: the endpoint is re-sent at once, nothing is owed.
        assertFalse(request("org.app", "a", null, null).answerOwed());
        // A re-REGISTER with another key needs the relay and owes an answer although the app has an endpoint.
        Registration again = request("org.app", "a", VAPID, null);
        assertTrue(again.announced());
        assertTrue(again.answerOwed());
    }

    @Test
    public void acknowledgementsAreKeptPerTokenAndUnknownTokensChangeNothing() throws Exception {
        request("org.app", "a", null, null);
        assertNull(book.acknowledge("nobody", NOW + 5));
        assertEquals(NOW + 7, book.acknowledge("a", NOW + 7).lastAckAt);
        assertEquals(NOW + 7, book.get("a").lastAckAt);
        assertEquals(1, book.all().size());
    }

    @Test
    public void callerMustBeKnown() {
        assertThrows(InvalidRequestException.class, () -> request(null, "tok", null, null));
        assertThrows(InvalidRequestException.class, () -> request("", "tok", null, null));
    }

    @Test
    public void endpointsMustBeHttpUrlsOfAtMost1000Bytes() throws Exception {
        request("org.app", "tok", null, null);
        String base = "https://relay.example/up/";
        assertEquals(1000, book.confirm("tok", base + "a".repeat(1000 - base.length())).endpoint.length());
        assertThrows(IllegalArgumentException.class, () -> book.confirm("tok", base + "a".repeat(1001 - base.length())));
        assertThrows(IllegalArgumentException.class, () -> book.confirm("tok", "ftp://relay.example/up/a"));
        assertThrows(IllegalArgumentException.class, () -> book.confirm("tok", null));
    }

    @Test
    public void confirmingARemovedTokenIsANoOp() throws Exception {
        request("org.app", "tok", null, null);
        book.remove("tok");
        assertNull(book.confirm("tok", "https://relay.example/up/a"));
        assertTrue(book.all().isEmpty());
    }

    @Test
    public void unconfirmAllMarksEveryRegistrationForTheRelayAgain() throws Exception {
        request("org.app", "a", null, null);
        request("org.app", "b", null, null);
        book.confirm("a", "https://relay.example/up/a");
        book.confirm("b", "https://relay.example/up/b");
        assertTrue(book.unconfirmed().isEmpty());
        book.unconfirmAll();
        List<Registration> pending = book.unconfirmed();
        assertEquals(2, pending.size());
        assertEquals("https://relay.example/up/a", pending.get(0).endpoint);
    }

    @Test
    public void survivesAJsonRoundTrip() throws Exception {
        request("org.app", "a", VAPID, "chat \u2603");
        book.confirm("a", "https://relay.example/up/a");
        request("org.other", "b", null, null);
        book.acknowledge("a", NOW + 9);
        RegistrationBook copy = RegistrationBook.fromJson(new JSONObject(book.toJson().toString()), new SequentialIds());
        assertEquals(2, copy.all().size());
        Registration a = copy.get("a");
        assertEquals("org.app", a.packageName);
        assertEquals("instance-1", a.instance);
        assertEquals(VAPID, a.vapid);
        assertEquals("chat \u2603", a.description);
        assertEquals("https://relay.example/up/a", a.endpoint);
        assertTrue(a.confirmed);
        assertEquals(0, a.requestedAt);
        assertEquals(NOW + 9, a.lastAckAt);
        Registration b = copy.get("b");
        assertEquals("a REGISTER still owed an answer after a restart", NOW, b.requestedAt);
        assertNull(b.vapid);
        assertNull(b.description);
        assertNull(b.endpoint);
        assertFalse(b.confirmed);
        assertSame(b, copy.byInstance("instance-2"));
    }

    @Test
    public void stateFromBeforeDeadlinesReadsAsOwedWhenNeverAnswered() throws Exception {
        RegistrationBook old = RegistrationBook.fromJson(new JSONObject("{\"format\":1,\"registrations\":["
                + "{\"token\":\"a\",\"package\":\"org.app\",\"instance\":\"i1\",\"confirmed\":false},"
                + "{\"token\":\"b\",\"package\":\"org.app\",\"instance\":\"i2\","
                + "\"endpoint\":\"https://relay.example/up/b\",\"confirmed\":true}]}"), new SequentialIds());
        assertEquals(0, old.get("a").requestedAt);
        assertTrue(old.get("a").answerOwed());
        assertFalse(old.get("b").answerOwed());
        assertEquals(0, old.get("b").lastAckAt);
    }

    @Test
    public void rejectsStateItDidNotWrite() {
        assertThrows(JSONException.class, () -> RegistrationBook.fromJson(
                new JSONObject("{\"format\":2,\"registrations\":[]}"), new SequentialIds()));
        assertThrows(JSONException.class, () -> RegistrationBook.fromJson(
                new JSONObject("{\"format\":1,\"registrations\":[{\"token\":\"a\"}]}"), new SequentialIds()));
    }
}
