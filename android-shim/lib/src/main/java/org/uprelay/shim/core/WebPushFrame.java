package org.uprelay.shim.core;

import java.nio.charset.Charset;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.ByteBuffer;

/**
 * The plaintext the relay encrypts on the Web Push road (frame version 1): version, part (0 whole,
 * 1 and 2 the halves of a split body), the message id (length byte, ASCII), the instance (length
 * byte, UTF-8), then exactly the body bytes the FCM road carries in {@code b}.
 */
public final class WebPushFrame {
    public static final int VERSION = 1;

    private WebPushFrame() {
    }

    public static WireFragment parse(byte[] frame) throws MalformedMessageException {
        if (frame.length < 4) {
            throw new MalformedMessageException("frame of " + frame.length + " bytes is shorter than its header");
        }
        if ((frame[0] & 0xff) != VERSION) {
            throw new MalformedMessageException("unknown frame version " + (frame[0] & 0xff));
        }
        int part = frame[1] & 0xff;
        if (part > 2) {
            throw new MalformedMessageException("unknown part " + part);
        }
        int at = 2;
        int idLength = frame[at++] & 0xff;
        if (idLength == 0 || idLength > Limits.MAX_ID_BYTES || at + idLength >= frame.length) {
            throw new MalformedMessageException("message id length " + idLength + " does not fit");
        }
        String id = decode(frame, at, idLength, Charset.forName("US-ASCII"), "message id");
        at += idLength;
        int instanceLength = frame[at++] & 0xff;
        if (instanceLength == 0 || instanceLength > Limits.MAX_INSTANCE_BYTES || at + instanceLength > frame.length) {
            throw new MalformedMessageException("instance length " + instanceLength + " does not fit");
        }
        String instance = decode(frame, at, instanceLength, Charset.forName("UTF-8"), "instance");
        at += instanceLength;
        int bodyLength = frame.length - at;
        if (bodyLength == 0 || bodyLength > Limits.MAX_DELIVERED_BYTES) {
            throw new MalformedMessageException("body of " + bodyLength + " bytes is outside 1.."
                    + Limits.MAX_DELIVERED_BYTES);
        }
        byte[] body = new byte[bodyLength];
        System.arraycopy(frame, at, body, 0, bodyLength);
        return new WireFragment(instance, id, part, body);
    }

    // Strict: a frame whose text is not what the relay writes is not the relay's.
    private static String decode(byte[] b, int at, int length, Charset charset, String what)
            throws MalformedMessageException {
        try {
            return charset.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b, at, length)).toString();
        } catch (CharacterCodingException e) {
            throw new MalformedMessageException(what + " is not valid " + charset.name());
        }
    }
}
