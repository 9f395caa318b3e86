"""Every way a vote can be refused, each with a stable code and a bilingual message.

The HTTP status for each code lives in one table (``ballotbox.http.STATUS``), so
adapters never decide an answer of their own.
"""

from __future__ import annotations


class VoteError(Exception):
    """A refusal the voter sees: a stable code plus a message in both languages."""

    code: str = "vote_error"
    zh: str = "投票未能完成。"
    en: str = "The vote could not be completed."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.en)
        self.detail = detail

    def message(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


class MalformedRequest(VoteError):
    code = "malformed_request"
    zh = "请求格式不正确。"
    en = "The request is malformed."


class BadIssuedAt(MalformedRequest):
    """``issued_at`` is not an RFC 3339 time with an offset near the voting window."""

    zh = (
        "请求格式不正确：签名时间（issued_at）须为带时区的RFC 3339时间"
        "（如2021-12-30T12:00:00+08:00），且在投票期前后一天之内。"
    )
    en = (
        "The request is malformed: issued_at must be an RFC 3339 time with an offset "
        "(e.g. 2021-12-30T12:00:00+08:00) within a day of the voting window."
    )


class BadSignature(VoteError):
    code = "bad_signature"
    zh = "签名无法验证，投票未记录。"
    en = "The signature does not verify; the vote was not recorded."


class VotingNotOpen(VoteError):
    code = "voting_not_open"
    zh = "投票尚未开始。"
    en = "Voting has not opened yet."


class VotingClosed(VoteError):
    code = "voting_closed"
    zh = "投票已经结束。"
    en = "Voting has closed."


class MethodNotAllowed(VoteError):
    code = "method_not_allowed"
    zh = "不支持该请求方法。"
    en = "This method is not allowed here."


class NotFound(VoteError):
    code = "not_found"
    zh = "找不到该接口。"
    en = "No such API endpoint."


class NonceReused(VoteError):
    code = "nonce_reused"
    zh = "这张选票的一次性编号已被另一张选票使用，投票未记录。"
    en = "This vote’s one-time code was already used by a different vote; it was not recorded."


class PayloadTooLarge(VoteError):
    code = "payload_too_large"
    zh = "请求内容过大。"
    en = "The request body is too large."


class UnsupportedMediaType(VoteError):
    code = "unsupported_media_type"
    zh = "请求内容必须是JSON。"
    en = "The request body must be JSON (application/json)."


class UnknownCandidate(VoteError):
    code = "unknown_candidate"
    zh = "本次评选中没有该候选项。"
    en = "There is no such candidate in this vote."


class WrongCampaign(VoteError):
    code = "wrong_campaign"
    zh = "这张选票不属于本次评选。"
    en = "This vote was made for a different poll."


class DailyLimitReached(VoteError):
    code = "daily_limit_reached"
    zh = "今天对该候选项的投票次数已用完，请明天再来。"
    en = "You have used all of today’s votes for this candidate; come back tomorrow."


class Unavailable(VoteError):
    """The store is throttled or down. Nothing was written; the client may retry."""

    code = "unavailable"
    zh = "服务繁忙，投票未记录，请稍后重试。"
    en = "The service is busy; the vote was not recorded. Please try again shortly."

    def __init__(self, detail: str | None = None, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


# -- identity modes and per-network limits (README "Identity modes") -------------------


class CredentialMissing(VoteError):
    code = "credential_missing"
    zh = "本次评选需要先通过微信确认身份，请在微信中打开投票页。"
    en = "This vote needs a WeChat sign-in first; open the vote page inside WeChat."


class CredentialInvalid(VoteError):
    code = "credential_invalid"
    zh = "本设备的投票资格无效（不属于本设备或本次评选），请重新打开投票页。"
    en = "This device’s permission to vote is not valid here; reopen the vote page."


class CredentialExpired(VoteError):
    code = "credential_expired"
    zh = "本设备的投票资格已过期，请重新打开投票页。"
    en = "This device’s permission to vote has expired; reopen the vote page."


class ProofRequired(VoteError):
    code = "proof_required"
    zh = "新设备首次投票前需要完成防刷票计算验证，请刷新页面。"
    en = "A new device must finish the anti-bot check before its first vote; reload the page."


class ProofInvalid(VoteError):
    code = "proof_invalid"
    zh = "防刷票计算验证未通过，请刷新页面重试。"
    en = "The anti-bot check did not pass; reload the page to try again."


class ProofExpired(VoteError):
    code = "proof_expired"
    zh = "防刷票计算验证已过期，请刷新页面重试。"
    en = "The anti-bot check has expired; reload the page to try again."


class WeChatCodeInvalid(VoteError):
    """WeChat refused the sign-in code: invalid (40029), already used (40163), expired."""

    code = "wechat_code_invalid"
    zh = "微信登录已失效，请重新打开投票页。"
    en = "The WeChat sign-in has expired or was already used; reopen the vote page."


class NetworkLimited(VoteError):
    """Too many requests from one network prefix: the client waits ``retry_after`` seconds."""

    code = "network_limited"
    zh = "您所在网络的请求过于频繁，请稍后再试。"
    en = "Too many requests from your network; please try again shortly."

    def __init__(self, detail: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UrlNotAllowed(VoteError):
    """The JS-SDK signs only this site's own pages (issue 16)."""

    code = "url_not_allowed"
    zh = "只能为本站的网页生成微信分享签名。"
    en = "Only this site’s own pages can be signed for WeChat sharing."


class ShareUnavailable(Unavailable):
    """No valid jsapi_ticket yet (the refresher has not fetched one): a deliberate 503."""

    code = "unavailable"
    zh = "暂时无法生成微信分享签名，请稍后重试。"
    en = "WeChat sharing cannot be signed right now; please try again later."
