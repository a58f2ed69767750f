package org.uprelay.shim.core;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Bodies that real senders put through the relay and that reach the phone as they are (issue
 * 15): a Matrix push gateway's plaintext notification JSON, and a legacy {@code aesgcm} push
 * with its salt and key carried in front of the ciphertext. The shim must treat them like any
 * other bytes, split or not. Exact bytes, shared by the unit tests and the end-to-end check.
 */
public final class SenderBodies {
    /** The salt and sender key of an aesgcm push, as its Encryption and Crypto-Key headers carry them. */
    public static final String AESGCM_SALT = "lngarbyKfMoi9Z75xYXmkg";
    public static final String AESGCM_DH =
            "BNoRDbb84JGm8g5Z5CFxurSqsXWJ11ItfXEWYVLE85Y7CYkDjXsIEc4aqxYaQ1G8BqkXCJ6DPpDrWtdWj_mugHU";

    private SenderBodies() {
    }

    /** A gateway's body: the notification without its devices, UTF-8. */
    public static byte[] matrix(String messageBody) {
        return ("{\"notification\":{\"event_id\":\"$3957tyerfgewrf384\",\"room_id\":\"!slw48wfj34rtnrf:example.org\","
                + "\"type\":\"m.room.message\",\"sender\":\"@exampleuser:example.org\",\"sender_display_name\":\"Major Tom\","
                + "\"room_name\":\"Mission Control\",\"prio\":\"high\",\"content\":{\"msgtype\":\"m.text\",\"body\":\""
                + messageBody + "\"},\"counts\":{\"unread\":2,\"missed_calls\":1}}}").getBytes(StandardCharsets.UTF_8);
    }

    /** Small enough for one FCM message. */
    public static byte[] matrixShort() {
        return matrix("I'm floating in a most peculiar way");
    }

    /** Large enough to be split, with multi-byte characters on both sides of the cut. */
    public static byte[] matrixLong() {
        return matrix("Gr\u00fc\u00dfe aus dem All " + "\ud83d\ude80\u00fc".repeat(560));
    }

    /** {@code "aesgcm\nEncryption: salt=…\nCrypto-Key: dh=…\n"} followed by {@code cipherBytes} raw bytes. */
    public static byte[] aesgcm(int cipherBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] head = ("aesgcm\nEncryption: salt=" + AESGCM_SALT + "\nCrypto-Key: dh=" + AESGCM_DH + "\n")
                .getBytes(StandardCharsets.US_ASCII);
        out.write(head, 0, head.length);
        for (int i = 0; i < cipherBytes; i++) {
            // Every byte value, zero and the high ones included, in an order no codec would keep by accident.
            out.write(i * 37 + 11);
        }
        return out.toByteArray();
    }
}
