"""Sign-in: server address, account, password; the token is kept for offline use until it expires."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from mobile_app.screens.common import FieldScreen

Builder.load_file(str(Path(__file__).with_name("signin.kv")))


class SignInScreen(FieldScreen):
    """Collects the server, the account and the password and hands them to the app."""

    def refresh(self) -> None:
        """Prefill the server and the account of the kept session."""
        session = self.app.store.session()
        ids = self.ids
        ids.server.text = ids.server.text or self.app.server_url or (session.server_url if session else "")
        ids.account.text = ids.account.text or self.app.username or (session.username if session else "")
        if session is not None:
            ids.message.text = ("已保存的登录已过期，请重新登录" if session.expired else
                                f"已保存 {session.username} 的登录，离线时可继续使用")

    def submit(self) -> None:
        """Sign in with what was typed."""
        ids = self.ids
        if not ids.server.text.strip() or not ids.account.text.strip() or not ids.password.text:
            ids.message.text = "请填写服务器地址、账号和密码"
            return
        ids.message.text = "正在登录…"
        why = self.app.sign_in(ids.server.text.strip(), ids.account.text.strip(), ids.password.text)
        if why:
            ids.message.text = why
            return
        ids.password.text = ""
        self.app.go("cases")
