package org.uprelay.shim.core;

/**
 * Which app sent a REGISTER or UNREGISTER, decided from what Android tells about the sender.
 * AND_3 connectors identify themselves: the sender's shared identity on Android 14+, else the
 * creator of the {@code pi} PendingIntent (refused from an app that targets Android 14+ and
 * should have shared its identity). android-connector 2.x (AND_2, still pinned by apps such as
 * Tusky and Element X) sends neither: it names itself in the {@code application} extra, which
 * is accepted last, as ntfy does, and only for an installed package. Such a caller can only
 * name another app, never read its answers: every answer is addressed to the named package,
 * and a token already held by another app is refused by the book.
 */
public final class ConnectorCaller {
    public enum Protocol {
        AND_3,
        AND_2
    }

    public static final int UPSIDE_DOWN_CAKE = 34;

    public final String packageName;
    public final Protocol protocol;

    private ConnectorCaller(String packageName, Protocol protocol) {
        this.packageName = packageName;
        this.protocol = protocol;
    }

    /** What the receiving side learned about a sender; the Android layer fills it. */
    public interface Facts {
        int sdkInt();

        /** {@code getSentFromPackage()} on Android 14+, else null. */
        String sharedIdentity();

        /** The creator of the {@code pi} extra, null without one. */
        String pendingIntentCreator();

        /** The target SDK of {@code packageName}, or Integer.MAX_VALUE when it is not installed. */
        int targetSdkOf(String packageName);

        /** The AND_2 {@code application} extra, null without one. */
        String applicationExtra();

        boolean isInstalled(String packageName);
    }

    /** Null when the sender cannot be identified: its intent is ignored. */
    public static ConnectorCaller identify(Facts f) {
        if (f.sdkInt() >= UPSIDE_DOWN_CAKE) {
            String shared = f.sharedIdentity();
            if (shared != null && !shared.isEmpty()) {
                return new ConnectorCaller(shared, Protocol.AND_3);
            }
        }
        String creator = f.pendingIntentCreator();
        if (creator != null) {
            if (f.sdkInt() >= UPSIDE_DOWN_CAKE && f.targetSdkOf(creator) >= UPSIDE_DOWN_CAKE) {
                // An AND_3 connector that should have shared its identity; its pi proves too little.
                return null;
            }
            return new ConnectorCaller(creator, Protocol.AND_3);
        }
        String named = f.applicationExtra();
        if (named != null && !named.isEmpty() && f.isInstalled(named)) {
            return new ConnectorCaller(named, Protocol.AND_2);
        }
        return null;
    }
}
