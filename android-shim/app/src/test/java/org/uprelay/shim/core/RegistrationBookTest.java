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
    private final RegistrationBook book = new RegistrationBook(new SequentialIds());

    @Test
    public void newRegistrationGetsItsOwnInstanceAndNoEndpointYet() throws Exception {
        Registration r = book.request("org.app", "tok-1", VAPID, "chat");
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
        book.request("org.app", "tok-1", VAPID, null);
        book.confirm("tok-1", "https://relay.example/up/abc");
        Registration again = book.request("org.app", "tok-1", VAPID, null);
        assertEquals("instance-1", again.instance);
        assertEquals("https://relay.example/up/abc", again.endpoint);
        assertTrue(again.confirmed);
    }

    @Test
    public void changedVapidKeepsTheInstanceButNeedsTheRelayAgain() throws Exception {
        book.request("org.app", "tok-1", VAPID, null);
        book.confirm("tok-1", "https://relay.example/up/abc");
        String other = "B" + "y".repeat(85) + "A";
        Registration changed = book.request("org.app", "tok-1", other, null);
        assertEquals("instance-1", changed.instance);
        assertFalse(changed.confirmed);
        assertTrue("the app still holds its old endpoint", changed.announced());
        assertEquals(other, changed.vapid);
    }

    @Test
    public void oneAppMayHoldManyRegistrations() throws Exception {
        book.request("org.app", "tok-1", null, null);
        book.request("org.app", "tok-2", null, null);
        book.request("org.other", "tok-3", null, null);
        assertEquals(3, book.all().size());
        assertNotEquals(book.get("tok-1").instance, book.get("tok-2").instance);
        assertEquals("tok-2", book.byInstance("instance-2").token);
    }

    @Test
    public void anotherAppCannotTakeAToken() throws Exception {
        book.request("org.app", "tok-1", null, null);
        assertThrows(TokenTakenException.class, () -> book.request("org.evil", "tok-1", null, null));
        assertEquals("org.app", book.get("tok-1").packageName);
    }

    @Test
    public void tokenLimitIsCountedInUtf8Bytes() throws Exception {
        book.request("org.app", "t".repeat(100), null, null);
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "t".repeat(101), null, null));
        // 50 two-byte characters are exactly 100 bytes; one more byte is too many.
        book.request("org.app", "\u00e9".repeat(50), null, null);
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "\u00e9".repeat(50) + "x", null, null));
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "", null, null));
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", null, null, null));
    }

    @Test
    public void vapidMustBe87Base64UrlCharacters() throws Exception {
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "a", VAPID.substring(1), null));
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "b", VAPID + "A", null));
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "c", "B+" + VAPID.substring(2), null));
        assertThrows("compressed or non-point keys", InvalidRequestException.class,
                () -> book.request("org.app", "e", "A" + VAPID.substring(1), null));
        assertNull("an empty key means none", book.request("org.app", "d", "", null).vapid);
    }

    @Test
    public void descriptionIsLimitedTo100Bytes() throws Exception {
        book.request("org.app", "a", null, "d".repeat(100));
        assertThrows(InvalidRequestException.class, () -> book.request("org.app", "b", null, "d".repeat(101)));
    }

    @Test
    public void callerMustBeKnown() {
        assertThrows(InvalidRequestException.class, () -> book.request(null, "tok", null, null));
        assertThrows(InvalidRequestException.class, () -> book.request("", "tok", null, null));
    }

    @Test
    public void endpointsMustBeHttpUrlsOfAtMost1000Bytes() throws Exception {
        book.request("org.app", "tok", null, null);
        String base = "https://relay.example/up/";
        assertEquals(1000, book.confirm("tok", base + "a".repeat(1000 - base.length())).endpoint.length());
        assertThrows(IllegalArgumentException.class, () -> book.confirm("tok", base + "a".repeat(1001 - base.length())));
        assertThrows(IllegalArgumentException.class, () -> book.confirm("tok", "ftp://relay.example/up/a"));
        assertThrows(IllegalArgumentException.class, () -> book.confirm("tok", null));
    }

    @Test
    public void confirmingARemovedTokenIsANoOp() throws Exception {
        book.request("org.app", "tok", null, null);
        book.remove("tok");
        assertNull(book.confirm("tok", "https://relay.example/up/a"));
        assertTrue(book.all().isEmpty());
    }

    @Test
    public void unconfirmAllMarksEveryRegistrationForTheRelayAgain() throws Exception {
        book.request("org.app", "a", null, null);
        book.request("org.app", "b", null, null);
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
        book.request("org.app", "a", VAPID, "chat \u2603");
        book.confirm("a", "https://relay.example/up/a");
        book.request("org.other", "b", null, null);
        RegistrationBook copy = RegistrationBook.fromJson(new JSONObject(book.toJson().toString()), new SequentialIds());
        assertEquals(2, copy.all().size());
        Registration a = copy.get("a");
        assertEquals("org.app", a.packageName);
        assertEquals("instance-1", a.instance);
        assertEquals(VAPID, a.vapid);
        assertEquals("chat \u2603", a.description);
        assertEquals("https://relay.example/up/a", a.endpoint);
        assertTrue(a.confirmed);
        Registration b = copy.get("b");
        assertNull(b.vapid);
        assertNull(b.description);
        assertNull(b.endpoint);
        assertFalse(b.confirmed);
        assertSame(b, copy.byInstance("instance-2"));
    }

    @Test
    public void rejectsStateItDidNotWrite() {
        assertThrows(JSONException.class, () -> RegistrationBook.fromJson(
                new JSONObject("{\"format\":2,\"registrations\":[]}"), new SequentialIds()));
        assertThrows(JSONException.class, () -> RegistrationBook.fromJson(
                new JSONObject("{\"format\":1,\"registrations\":[{\"token\":\"a\"}]}"), new SequentialIds()));
    }
}
