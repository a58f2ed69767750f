package org.uprelay.shim.core;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPrivateKeySpec;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.EllipticCurve;

/** NIST P-256 with the platform's own providers: keys in the uncompressed 65-byte form Web Push uses. */
public final class P256 {
    public static final int POINT_BYTES = 65;
    private static final int COORDINATE_BYTES = 32;
    private static volatile ECParameterSpec params;

    private P256() {
    }

    public static KeyPair generate(SecureRandom random) throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), random);
        return g.generateKeyPair();
    }

    /** The curve's parameters, taken from a generated key: every provider knows secp256r1 by that name. */
    static ECParameterSpec params() throws GeneralSecurityException {
        ECParameterSpec p = params;
        if (p == null) {
            p = ((ECPublicKey) generate(new SecureRandom()).getPublic()).getParams();
            params = p;
        }
        return p;
    }

    /** {@code 0x04 || X || Y}. */
    public static byte[] encode(ECPublicKey key) {
        byte[] out = new byte[POINT_BYTES];
        out[0] = 4;
        copyCoordinate(key.getW().getAffineX(), out, 1);
        copyCoordinate(key.getW().getAffineY(), out, 1 + COORDINATE_BYTES);
        return out;
    }

    /**
     * The public key of an uncompressed point, checked to lie on the curve: a point off it
     * would make ECDH leak bits of the private key (an invalid-curve attack), and not every
     * provider checks.
     */
    public static ECPublicKey decode(byte[] point) throws GeneralSecurityException {
        if (point.length != POINT_BYTES || point[0] != 4) {
            throw new GeneralSecurityException("not an uncompressed P-256 point");
        }
        BigInteger x = new BigInteger(1, slice(point, 1));
        BigInteger y = new BigInteger(1, slice(point, 1 + COORDINATE_BYTES));
        ECParameterSpec spec = params();
        EllipticCurve curve = spec.getCurve();
        BigInteger p = ((java.security.spec.ECFieldFp) curve.getField()).getP();
        if (x.compareTo(p) >= 0 || y.compareTo(p) >= 0) {
            throw new GeneralSecurityException("point coordinates out of range");
        }
        BigInteger left = y.multiply(y).mod(p);
        BigInteger right = x.pow(3).add(curve.getA().multiply(x)).add(curve.getB()).mod(p);
        if (!left.equals(right)) {
            throw new GeneralSecurityException("point is not on P-256");
        }
        return (ECPublicKey) KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(new ECPoint(x, y), spec));
    }

    /** A private key from its 32-byte scalar (test vectors are written that way). */
    public static ECPrivateKey privateKey(byte[] scalar) throws GeneralSecurityException {
        return (ECPrivateKey) KeyFactory.getInstance("EC")
                .generatePrivate(new ECPrivateKeySpec(new BigInteger(1, scalar), params()));
    }

    private static byte[] slice(byte[] b, int from) {
        byte[] out = new byte[COORDINATE_BYTES];
        System.arraycopy(b, from, out, 0, COORDINATE_BYTES);
        return out;
    }

    private static void copyCoordinate(BigInteger v, byte[] out, int at) {
        byte[] b = v.toByteArray();
        // toByteArray may add a leading sign byte or drop leading zeros.
        int len = Math.min(b.length, COORDINATE_BYTES);
        System.arraycopy(b, b.length - len, out, at + COORDINATE_BYTES - len, len);
    }
}
